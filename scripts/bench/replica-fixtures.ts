// Shared fixtures of the replicas benchmark: deterministic unit vectors, a bulk gallery fill over plain SQL,
// a multipart body, and a tiny round-robin HTTP proxy standing in for the load balancer.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { rng } from './synthetic.ts';

export const PROPAGATION_DIM = 128;

function unit(seed: number, dim: number): Float32Array {
  const r = rng(seed);
  const v = Float32Array.from({ length: dim }, () => r.normal());
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** The i-th enrolment of the propagation run: the same vector in the leader and the follower process. */
export const propagationVector = (seed: number, i: number): Float32Array => unit(seed * 1_000_003 + i, PROPAGATION_DIM);

const f32 = (v: Float32Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/**
 * Adds n identities with one face and its center each, straight through SQL in batches (the change-log trigger
 * fires for every center as in normal operation). The gallery must have been opened once (tables and model bound).
 */
export async function bulkFill(url: string, n: number, dim: number, modelId: string, seed: number, onBatch?: (done: number) => void): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const BATCH = 5000;
    for (let start = 0; start < n; start += BATCH) {
      const count = Math.min(BATCH, n - start);
      const now = new Date().toISOString();
      const ids = Array.from({ length: count }, (_, i) => `bulk-${seed}-${start + i}`);
      await c.query('BEGIN');
      const { rows } = await c.query<{ label: number }>(
        `INSERT INTO identities (id, name, created_at, updated_at) SELECT id, id, $2, $2 FROM unnest($1::text[]) AS t(id) RETURNING label`, [ids, now]);
      const vecs = rows.map((_, i) => f32(unit(seed * 7_000_003 + start + i, dim)));
      const labels = rows.map((r) => r.label);
      await c.query(`INSERT INTO faces (id, identity_label, embedding, model_id, det_score, box, image_sha256, created_at)
        SELECT 'f-' || l, l, e, $3, 0.99, '{"x":0,"y":0,"width":100,"height":100}', encode(sha256(l::text::bytea), 'hex'), $4 FROM unnest($1::int[], $2::bytea[]) AS t(l, e)`,
      [labels, vecs, modelId, now]);
      await c.query(`INSERT INTO centers (identity_label, sum, count, center) SELECT l, e, 1, e FROM unnest($1::int[], $2::bytea[]) AS t(l, e)`, [labels, vecs]);
      await c.query('COMMIT');
      onBatch?.(start + count);
    }
  } finally {
    await c.end();
  }
}

export function multipart(field: string, bytes: Buffer): { body: Buffer; contentType: string } {
  const boundary = `----irface-bench-${Date.now().toString(16)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${field}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    bytes, Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A round-robin reverse proxy on 127.0.0.1 (keep-alive to the targets); returns its URL and a close function. */
export async function roundRobinProxy(targets: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let next = 0;
  const server = http.createServer((req, res) => {
    const target = new URL(req.url ?? '/', targets[next++ % targets.length]);
    const up = http.request(target, { method: req.method, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((ok) => { agent.destroy(); server.close(() => ok()); server.closeAllConnections(); }),
  };
}
