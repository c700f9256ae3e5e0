// The command line on PostgreSQL: migrate-store SQLite -> PostgreSQL -> SQLite with counts checked, and export
// of a PostgreSQL gallery imported into SQLite. Real processes, real SQLite files, a throwaway PostgreSQL.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../config.ts';
import { SHIPPED_MODEL } from '../test-support.ts';
import { loadModel } from '../model/card.ts';
import { openGallery } from '../../gallery/open.ts';
import { testPgOrSkip } from '../../gallery/pg-test-server.ts';
import { face, noisy, randomUnit, rng, tempDir } from '../../gallery/test-helpers.ts';

const server = await testPgOrSkip();
if (server.pg) after(() => server.pg.stop());

function irface(args: string[], env: Record<string, string>): any {
  const out = execFileSync(process.execPath, [join(PROJECT_ROOT, 'bin/irface.mjs'), ...args], {
    env: { ...process.env, IRFACE_MODEL: SHIPPED_MODEL, IRFACE_LOG_LEVEL: 'silent', IRFACE_DATABASE_URL: '', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

test('migrate-store copies SQLite into PostgreSQL and back; a PostgreSQL gallery exports and imports', { skip: server.skip }, async () => {
  // A SQLite gallery bound to the shipped model, with synthetic embeddings of its dimension.
  const { card } = loadModel(SHIPPED_MODEL);
  const src = tempDir('irface-cli-src-');
  const g = await openGallery({ dataDir: src, modelId: card.id, dim: card.output.dim });
  const rand = rng(11);
  for (let i = 0; i < 12; i++) {
    const c = randomUnit(card.output.dim, rand);
    const id = (await g.createIdentity({ name: `p${i}` })).id;
    await g.addFaces(id, [face(noisy(c, 0.3, rand), `${i}a`), face(noisy(c, 0.3, rand), `${i}b`)]);
  }
  await g.close();
  const url = await server.pg!.newDatabase();
  const want = { identities: 12, faces: 24, facesWithoutCrop: 0, centers: 12 };

  const there = irface(['migrate-store', url], { IRFACE_DATA_DIR: src });
  assert.deepEqual([there.status, there.source, there.target], ['copied', want, want]);
  const back = tempDir('irface-cli-back-');
  const home = irface(['migrate-store', back], { IRFACE_DATA_DIR: tempDir(), IRFACE_DATABASE_URL: url });
  assert.deepEqual([home.status, home.source, home.target], ['copied', want, want]);
  assert.throws(() => irface(['migrate-store', url], { IRFACE_DATA_DIR: src }), /not empty \(12 identities, 24 faces\)/);

  const file = join(tempDir('irface-cli-exp-'), 'g.jsonl.gz');
  const exp = irface(['export', file], { IRFACE_DATA_DIR: tempDir(), IRFACE_DATABASE_URL: url });
  assert.deepEqual([exp.identities, exp.faces], [12, 24]);
  const imp = irface(['import', file], { IRFACE_DATA_DIR: tempDir() });
  assert.deepEqual([imp.identities, imp.faces], [12, 24]);
});
