// The irface command line end to end: enroll a folder twice (resumable), search, export and import.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Region } from 'sharp';
import { PROJECT_ROOT } from '../config.ts';
import { demoPhoto } from '../test-support.ts';

const root = mkdtempSync(join(tmpdir(), 'irface-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

function irface(args: string[], dataDir: string): any {
  const out = execFileSync(process.execPath, [join(PROJECT_ROOT, 'bin/irface.mjs'), ...args], {
    env: { ...process.env, IRFACE_DATA_DIR: dataDir, IRFACE_LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

test('enroll is resumable, reports failures by code, and export/import round-trips', async () => {
  // Two "people" cut from face-api's demo photo (the two largest faces), plus an image without a face.
  const photo = readFileSync(demoPhoto(1));
  const people = join(root, 'people');
  const crops: [string, Region][] = [['Left_Person', { left: 330, top: 280, width: 420, height: 520 }],
    ['Right_Person', { left: 1100, top: 220, width: 460, height: 560 }]];
  for (const [name, region] of crops) {
    mkdirSync(join(people, name), { recursive: true });
    await sharp(photo).extract(region).jpeg().toFile(join(people, name, 'a.jpg'));
    await sharp(photo).extract(region).flop().jpeg().toFile(join(people, name, 'b.jpg'));
  }
  writeFileSync(join(people, 'Left_Person', 'blank.png'), await sharp({ create: { width: 200, height: 200, channels: 3, background: '#888' } }).png().toBuffer());
  const data = join(root, 'data');
  const first = irface(['enroll', people, '--largest'], data);
  assert.equal(first.people, 2);
  assert.equal(first.created, 2);
  assert.equal(first.images, 5);
  assert.equal(first.added, 4, JSON.stringify(first));
  assert.deepEqual(first.failures, { no_face: 1 });
  const again = irface(['enroll', people, '--largest'], data);
  assert.equal(again.created, 0);
  assert.equal(again.added, 0);
  assert.equal(again.skipped, 4);

  const found = irface(['search', join(people, 'Left_Person', 'a.jpg'), '--k', '2'], data);
  assert.equal(found.faces[0].matches[0].external_id, 'Left_Person');
  assert.equal(found.faces[0].unknown, false);

  const file = join(root, 'gallery.jsonl.gz');
  const exported = irface(['export', file], data);
  assert.equal(exported.identities, 2);
  assert.equal(exported.faces, 4);
  const imported = irface(['import', file], join(root, 'data2'));
  assert.deepEqual(imported, { identities: 2, skipped: 0, faces: 4 });
  const reimport = irface(['import', file], join(root, 'data2'));
  assert.equal(reimport.skipped, 2);
  const again2 = irface(['search', join(people, 'Right_Person', 'a.jpg')], join(root, 'data2'));
  assert.equal(again2.faces[0].matches[0].external_id, 'Right_Person');
});

test('keys: create, list, revoke; bad usage exits 2 with the usage text', () => {
  const data = join(root, 'keys-data');
  const k = irface(['keys', 'create', '--scope', 'recognize', '--name', 'ci'], data);
  assert.match(k.key, /^irf_[0-9a-f]{12}_/);
  assert.equal(irface(['keys', 'list'], data).length, 1);
  assert.deepEqual(irface(['keys', 'revoke', k.id], data), { revoked: k.id });
  assert.throws(() => irface(['keys', 'create', '--scope', 'root'], data), (e: any) => e.status === 2 && /usage: irface/.test(String(e.stderr)));
  assert.throws(() => irface(['bogus'], data), (e: any) => e.status === 2);
});
