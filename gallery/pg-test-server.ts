// Test helper: a throwaway PostgreSQL cluster (scripts/pg-test-server.sh) with a fresh database per test.
//
// Off CI a machine without PostgreSQL skips the PostgreSQL tests with the reason printed; on CI (CI=true) the
// same failure fails the tests, so they never skip silently where .ci/run has installed PostgreSQL.

import { execFile, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'pg-test-server.sh');
const run = promisify(execFile);

export interface TestPg {
  url: string; // the maintenance database (postgres)
  port: number;
  /** Creates an empty database and returns its URL. */
  newDatabase(): Promise<string>;
  /** Runs one statement on the maintenance database (e.g. pg_terminate_backend). */
  query<R = any>(sql: string, values?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address() as { port: number };
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

/** Starts a cluster on a free port; it is stopped and deleted by stop() or at the latest when the process exits. */
export async function startTestPg(): Promise<TestPg> {
  const port = await freePort();
  let out: string;
  try {
    out = (await run('bash', [SCRIPT, 'start', String(port)], { timeout: 120_000 })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`cannot start a test PostgreSQL: ${(e.stdout ?? '').trim()} ${(e.stderr ?? '').trim() || e.message}`.trim());
  }
  const [dir, url] = out.trim().split('\n').pop()!.split(' ');
  let stopped = false;
  const stopSync = () => {
    if (!stopped) spawnSync('bash', [SCRIPT, 'stop', dir]);
    stopped = true;
  };
  process.once('exit', stopSync);
  let n = 0;
  const query = async <R>(sql: string, values: unknown[] = []): Promise<R[]> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(sql, values)).rows as R[];
    } finally {
      await c.end();
    }
  };
  return {
    url, port, query,
    async newDatabase() {
      const name = `t${process.pid}_${++n}`;
      await query(`CREATE DATABASE ${name}`);
      return url.replace(/\/postgres$/, `/${name}`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', stopSync);
      await run('bash', [SCRIPT, 'stop', dir]);
    },
  };
}

/** The cluster for a test file, or why it is skipped here (never on CI: there the error is thrown). */
export async function testPgOrSkip(): Promise<{ pg: TestPg; skip: false } | { pg: null; skip: string }> {
  try {
    return { pg: await startTestPg(), skip: false };
  } catch (err) {
    if (process.env.CI === 'true' || process.env.CI === '1') throw err;
    const reason = `PostgreSQL tests skipped (not CI): ${(err as Error).message}`;
    process.stderr.write(`${reason}\n`);
    return { pg: null, skip: reason };
  }
}
