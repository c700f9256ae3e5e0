// Crash safety on PostgreSQL: the same SIGKILL scenario with the gallery in a throwaway PostgreSQL database;
// the restarted server loads its saved index and replays the change log instead of rebuilding.
import { after, test } from 'node:test';
import { testPgOrSkip } from '../../gallery/pg-test-server.ts';
import { crashScenario } from './crash-scenario.ts';

const server = await testPgOrSkip();
if (server.pg) after(() => server.pg.stop());

test('SIGKILL during concurrent enrollment on PostgreSQL loses no acknowledged write; the index replays the log', { skip: server.skip },
  async (t) => crashScenario(t, { IRFACE_DATABASE_URL: await server.pg!.newDatabase() }));
