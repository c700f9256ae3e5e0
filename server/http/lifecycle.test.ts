// The server around the routes, over real HTTP: request logs (pino-http), metric label cardinality, Node's request
// timeout in the API's error shape, and a graceful close that answers the request in flight.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { testConfig, TEST_ADMIN_KEY, NO_INTERNALS } from '../test-support.ts';
import { buildServer } from '../compose.ts';
import type { ApiServer } from './server.ts';

interface LogLine { level: number; msg: string; req?: { id: string; url: string }; res?: { statusCode: number } }

const lines: LogLine[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
    done();
  },
});

let app: ApiServer;
let base = '';
let port = 0;
const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

before(async () => {
  // A one-second request timeout, so the 408 test below takes seconds, not a minute.
  ({ app } = await buildServer(testConfig({ IRFACE_REQUEST_TIMEOUT_MS: '1000' }), { logger: { level: 'debug', stream: sink } }));
  ({ port } = await app.listen({ host: '127.0.0.1', port: 0 }));
  base = `http://127.0.0.1:${port}`;
});
after(() => app.close());

/** A raw connection to the server, collecting everything it answers. */
async function rawSocket(): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = once(socket, 'close');
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed };
}

test('one JSON log line per request, with its request id; /healthz and /metrics at debug, the API at info', async () => {
  const id = `log-${randomUUID()}`;
  assert.equal((await fetch(`${base}/v1/status`, { headers: { ...auth, 'x-request-id': id } })).status, 200);
  assert.equal((await fetch(`${base}/healthz`, { headers: { 'x-request-id': `${id}-h` } })).status, 200);
  assert.equal((await fetch(`${base}/metrics`, { headers: { 'x-request-id': `${id}-m` } })).status, 200);
  assert.equal((await fetch(`${base}/v1/nothing`, { headers: { ...auth, 'x-request-id': `${id}-404` } })).status, 404);
  const of = (rid: string) => lines.filter((l) => l.req?.id === rid);
  assert.deepEqual(of(id).map((l) => [l.level, l.res?.statusCode, l.req?.url]), [[30, 200, '/v1/status']]);
  assert.deepEqual(of(`${id}-h`).map((l) => l.level), [20]);
  assert.deepEqual(of(`${id}-m`).map((l) => l.level), [20]);
  assert.deepEqual(of(`${id}-404`).map((l) => [l.level, l.res?.statusCode]), [[30, 404]]);
  assert.ok(lines.every((l) => !JSON.stringify(l).includes(TEST_ADMIN_KEY)), 'the API key is never logged');
});

/** The value of one irface_http_requests_total series (0 when absent). */
async function requestCount(labels: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`irface_http_requests_total{${labels}} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

test('metrics are labelled by route template: 1,000 distinct ids add no series', async () => {
  const byId = 'route="/v1/identities/:id",method="GET",status="404"';
  const unknown = 'route="unknown",method="GET",status="404"';
  const [byIdBefore, unknownBefore] = [await requestCount(byId), await requestCount(unknown)];
  const ids = Array.from({ length: 1000 }, () => randomUUID());
  for (let i = 0; i < ids.length; i += 25) {
    await Promise.all(ids.slice(i, i + 25).map(async (id, j) => {
      const r = await fetch(`${base}/v1/identities/${id}`, { headers: auth });
      assert.equal(r.status, 404);
      await r.arrayBuffer();
      const u = await fetch(`${base}/no/such/path/${i + j}`, { headers: auth });
      assert.equal(u.status, 404);
      await u.arrayBuffer();
    }));
  }
  const text = await (await fetch(`${base}/metrics`)).text();
  const series = text.split('\n').filter((l) => l.startsWith('irface_http_requests_total{'));
  assert.equal(await requestCount(byId), byIdBefore + 1000, series.join('\n'));
  assert.equal(await requestCount(unknown), unknownBefore + 1000, series.join('\n'));
  assert.ok(ids.every((id) => !text.includes(id)), 'no raw id in any label');
  assert.doesNotMatch(text, /route="\/no\/such/);
  const routes = new Set(text.split('\n').filter((l) => l.startsWith('irface_http_')).map((l) => /route="([^"]*)"/.exec(l)?.[1]));
  assert.ok(routes.size <= 10, `route labels: ${[...routes].join(', ')}`);
});

test('a request whose body stops arriving gets 408 in the API error shape after the request timeout', async () => {
  const { socket, received, closed } = await rawSocket();
  const started = Date.now();
  socket.write(`POST /v1/identities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_ADMIN_KEY}\r\n` +
    'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name": "slo');
  await closed;
  const text = received();
  assert.match(text, /^HTTP\/1\.1 408 /, text);
  const body = JSON.parse(text.split('\r\n\r\n')[1]);
  assert.equal(body.error.code, 'invalid_request');
  assert.match(body.error.message, /too long/);
  assert.doesNotMatch(text, NO_INTERNALS);
  const waited = Date.now() - started;
  assert.ok(waited >= 900 && waited < 10_000, `answered after ${waited} ms`);
});

test('close(): stops accepting, answers the request in flight, then closes', async () => {
  const { socket, received, closed } = await rawSocket();
  const body = JSON.stringify({ name: 'in flight during close' });
  socket.write(`POST /v1/identities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_ADMIN_KEY}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
  await new Promise((r) => setTimeout(r, 100)); // the request is being read when close() starts
  const closing = app.close();
  await assert.rejects(fetch(`${base}/healthz`), 'no new connection is accepted');
  socket.write(body.slice(10));
  await closed; // the server closes the connection after answering
  const text = received();
  assert.match(text, /^HTTP\/1\.1 201 /, text);
  assert.equal(JSON.parse(text.split('\r\n\r\n')[1]).name, 'in flight during close');
  await closing;
});
