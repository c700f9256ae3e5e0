// A real irface server as a child process (`node --import tsx server/main.ts`), for multi-replica tests and
// benchmarks: they talk HTTP to it, so they do not depend on the HTTP framework inside.
import { spawn, type ChildProcess } from 'node:child_process';
import { PROJECT_ROOT } from './config.ts';
import { SHIPPED_MODEL, TEST_ADMIN_KEY } from './test-support.ts';

export interface ReplicaProcess {
  base: string; // http://127.0.0.1:<port>
  pid: number;
  child: ChildProcess;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number | null>;
  /** The last lines the server wrote to stderr (for failure messages). */
  log(): string;
}

export const exited = (c: ChildProcess) => new Promise<void>((ok) => {
  if (c.exitCode !== null || c.signalCode !== null) ok();
  else c.once('exit', () => ok());
});

/**
 * Starts a server with `env` on top of a quiet test configuration (shipped model, test admin key) and waits
 * until /healthz answers 200. `cmd` overrides the command (e.g. `taskset -c 0 node …` for benchmarks).
 */
export async function startReplica(env: Record<string, string>, opts: { timeoutMs?: number; wrap?: string[] } = {}): Promise<ReplicaProcess> {
  const args = ['--import', 'tsx', 'server/main.ts'];
  const [cmd, ...cmdArgs] = opts.wrap ? [...opts.wrap, process.execPath, ...args] : [process.execPath, ...args];
  const c = spawn(cmd, cmdArgs, {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      IRFACE_MODEL: SHIPPED_MODEL, IRFACE_HOST: '127.0.0.1', IRFACE_ADMIN_KEY: TEST_ADMIN_KEY, IRFACE_LOG_LEVEL: 'warn',
      IRFACE_DETECT_WORKERS: '1', IRFACE_EMBED_THREADS: '1', ...env,
    },
  });
  let log = '';
  c.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  const base = `http://127.0.0.1:${env.IRFACE_PORT}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const proc: ReplicaProcess = {
    base, pid: c.pid!, child: c, log: () => log,
    async stop() {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      await exited(c);
      return c.exitCode;
    },
  };
  while (Date.now() < deadline) {
    if (c.exitCode !== null) throw new Error(`server exited with ${c.exitCode} before it was ready:\n${log}`);
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) return proc;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 150));
  }
  c.kill('SIGKILL');
  throw new Error(`server not ready after ${opts.timeoutMs ?? 120_000} ms:\n${log}`);
}
