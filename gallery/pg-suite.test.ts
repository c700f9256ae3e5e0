// The gallery's shared test cases (faces, identities, search, reindex) run again on PostgreSQL: one set of
// cases, both stores. Each case gets its own database on a throwaway cluster started for this file.

import { after, test } from 'node:test';
import { testPgOrSkip } from './pg-test-server.ts';
import { useTestPg } from './test-backend.ts';

const server = await testPgOrSkip();
if (server.pg) {
  const pg = server.pg;
  after(() => pg.stop());
  useTestPg(pg);
  await import('./gallery-faces.test.ts');
  await import('./gallery-identities.test.ts');
  await import('./gallery-search.test.ts');
  await import('./reindex.test.ts');
} else {
  test('gallery test cases on PostgreSQL', { skip: server.skip }, () => {});
}
