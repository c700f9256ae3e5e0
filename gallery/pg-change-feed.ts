// The PostgreSQL change feed: reads the center change log, and listens for commits on a connection of its own
// that reconnects by itself (a missed notification costs nothing: every wake-up reads from the last applied seq).

import type pg from 'pg';
import { centerOrNull } from './pg-rows.ts';
import type { CenterChange, ChangeFeed, LogSnapshot } from './types.ts';

export const CHANNEL = 'irface_centers';
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/**
 * Keeps a dedicated connection LISTENing on `channel`, reconnecting with backoff; calls wake() on every
 * notification and after every (re)connection. Returns a function that stops it.
 */
export async function listenForever(newClient: () => pg.Client, channel: string, wake: () => void,
  log: (msg: string, data?: Record<string, unknown>) => void): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | undefined;
  let delay = RECONNECT_MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    if (stopped) return;
    const c = newClient();
    client = c;
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost || stopped) return;
      lost = true;
      log(`listening connection (${channel}) lost, reconnecting`, { error: String(err ?? 'closed'), retryMs: delay });
      c.end().catch(() => {});
      timer = setTimeout(() => void connect(), delay);
      delay = Math.min(RECONNECT_MAX_MS, delay * 2);
    };
    c.on('error', onLost);
    c.on('end', () => onLost());
    c.on('notification', () => wake());
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    delay = RECONNECT_MIN_MS;
    wake(); // whatever was committed while not listening
  };
  await connect();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await client?.end().catch(() => {});
  };
}

export class PgChangeFeed implements ChangeFeed {
  readonly #pool: pg.Pool;
  readonly #newClient: () => pg.Client;
  readonly #stops = new Set<() => Promise<void>>();

  constructor(pool: pg.Pool, newClient: () => pg.Client) {
    this.#pool = pool;
    this.#newClient = newClient;
  }

  async snapshot(afterSeq: number): Promise<LogSnapshot> {
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const head = Number((await c.query<{ seq: string }>('SELECT seq FROM center_log_head')).rows[0].seq);
      const floor = (await c.query<{ f: string | null }>('SELECT min(seq) AS f FROM center_log')).rows[0].f;
      const model = (await c.query<{ value: string }>(`SELECT value FROM meta WHERE key = 'model_id'`)).rows[0];
      const centers = await c.query<{ l: number }>('SELECT identity_label AS l FROM centers ORDER BY identity_label');
      const changed = await c.query<{ l: number }>('SELECT DISTINCT label AS l FROM center_log WHERE seq > $1', [afterSeq]);
      await c.query('COMMIT');
      return {
        head, floor: floor === null ? head + 1 : Number(floor), modelId: model?.value ?? null,
        centerLabels: centers.rows.map((r) => r.l), changedLabels: changed.rows.map((r) => r.l),
      };
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async changesSince(afterSeq: number, limit: number): Promise<{ modelId: string | null; changes: CenterChange[] }> {
    // One statement, so the centers read are at least as new as the entries listed.
    const { rows } = await this.#pool.query<{ seq: string; label: number; center: Buffer | null; model: string | null }>(
      `SELECT l.seq, l.label, c.center, (SELECT value FROM meta WHERE key = 'model_id') AS model
         FROM center_log l LEFT JOIN centers c ON c.identity_label = l.label
        WHERE l.seq > $1 ORDER BY l.seq LIMIT $2`, [afterSeq, limit]);
    const modelId = rows[0]?.model ?? null;
    return { modelId, changes: rows.map((r) => ({ seq: Number(r.seq), label: r.label, center: centerOrNull(r.center, 'centers.center') })) };
  }

  async listen(wake: () => void, log: (msg: string, data?: Record<string, unknown>) => void): Promise<() => Promise<void>> {
    const stopListening = await listenForever(this.#newClient, CHANNEL, wake, (m, d) => log(`gallery change feed: ${m}`, d));
    const stop = async () => {
      this.#stops.delete(stop);
      await stopListening();
    };
    this.#stops.add(stop);
    return stop;
  }

  /** Stops every listener (the store is closing). */
  async close(): Promise<void> {
    await Promise.all([...this.#stops].map((s) => s()));
  }
}
