// API keys and scopes, open loopback routes, CORS, request ids, back-pressure, over real HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { testConfig, testServer, assertError, demoPhoto, TEST_ADMIN_KEY } from '../test-support.ts';
import { KeyStore } from '../adapters/key-store.ts';

const config = testConfig({ IRFACE_CORS_ORIGINS: 'https://app.example.com', IRFACE_MAX_IN_FLIGHT: '1' });
const server = testServer(config);
const { call, postForm } = server;
const photo = readFileSync(demoPhoto(2));
let keys: KeyStore;
let recognizeKey: string;

before(async () => {
  await server.start();
  keys = new KeyStore(config.dataDir); // a second handle on the server's key database, as the CLI uses it
  recognizeKey = keys.create('recognize', 'test').key;
});
after(async () => {
  keys?.close();
  await server.close();
});

const anonymous = { authorization: '' };
const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

test('no key or a wrong key is refused with 401 on every protected route', async () => {
  for (const [method, path] of [['GET', '/v1/identities'], ['GET', '/v1/status'], ['POST', '/v1/detect'], ['POST', '/v1/search']]) {
    assertError(await call(path, { method, headers: anonymous }), 401, 'unauthorized', `${method} ${path}`);
    assertError(await call(path, { method, headers: bearer('irf_000000000000_notarealkeynotarealkey') }), 401, 'unauthorized');
  }
  assertError(await call('/v1/identities', { headers: { authorization: 'Basic abc' } }), 401, 'unauthorized');
});

test('a recognize key may recognize but not manage the gallery', async () => {
  const h = bearer(recognizeKey);
  assertError(await call('/v1/identities', { headers: h }), 403, 'forbidden');
  assertError(await call('/v1/identities', { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: '{"name":"x"}' }), 403, 'forbidden');
  const r = await call('/v1/status', { headers: h });
  assert.equal(r.status, 200);
  const fd = new FormData();
  fd.append('image', new Blob([new Uint8Array(photo)]), 'p.jpg');
  const d = await call('/v1/detect', { method: 'POST', headers: { 'x-api-key': recognizeKey }, body: fd });
  assert.equal(d.status, 200, d.text);
  assert.ok(d.body.faces.length >= 1);
});

test('the admin key from IRFACE_ADMIN_KEY manages the gallery; a revoked key stops working at once', async () => {
  assert.equal((await call('/v1/identities')).status, 200);
  const temp = keys.create('admin', 'short-lived');
  assert.equal((await call('/v1/identities', { headers: bearer(temp.key) })).status, 200);
  assert.ok(keys.revoke(temp.id));
  assertError(await call('/v1/identities', { headers: bearer(temp.key) }), 401, 'unauthorized');
});

test('keys are stored only as hashes', () => {
  const files = readdirSync(config.dataDir).filter((f) => f.startsWith('keys.sqlite'));
  assert.ok(files.length >= 1);
  for (const f of files) {
    const bytes = readFileSync(join(config.dataDir, f));
    assert.equal(bytes.indexOf(TEST_ADMIN_KEY), -1, `${f} holds the admin key in clear`);
    assert.equal(bytes.indexOf(recognizeKey), -1, `${f} holds the recognize key in clear`);
  }
});

test('health, metrics and the API document are open on loopback', async () => {
  const h = await call('/healthz', { headers: anonymous });
  assert.equal(h.status, 200);
  const m = await call('/metrics', { headers: anonymous });
  assert.equal(m.status, 200);
  assert.match(m.text, /irface_http_requests_total\{route="\/v1\/detect",method="POST",status="200"\} \d+/);
  assert.match(m.text, /irface_inference_seconds_count\{stage="embed",model="[^"]+"\} \d+/);
  assert.match(m.text, /irface_gallery_identities \d+/);
  assert.equal((await call('/openapi.json', { headers: anonymous })).status, 200);
});

test('CORS: only allow-listed origins get CORS headers; preflight answers 204', async () => {
  const ok = await call('/v1/status', { headers: { origin: 'https://app.example.com' } });
  assert.equal(ok.status, 200);
  const okRes = await fetch(`${server.base}/v1/status`, { headers: { origin: 'https://app.example.com', authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  assert.equal(okRes.headers.get('access-control-allow-origin'), 'https://app.example.com');
  const bad = await fetch(`${server.base}/v1/status`, { headers: { origin: 'https://evil.example.net', authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  assert.equal(bad.headers.get('access-control-allow-origin'), null);
  const pre = await fetch(`${server.base}/v1/search`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
});

test('every response carries a request id; a client-supplied one is echoed', async () => {
  const a = await fetch(`${server.base}/healthz`);
  assert.match(a.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  const b = await fetch(`${server.base}/healthz`, { headers: { 'x-request-id': 'client-chosen-id-42' } });
  assert.equal(b.headers.get('x-request-id'), 'client-chosen-id-42');
});

test('beyond IRFACE_MAX_IN_FLIGHT image requests, 429 with Retry-After; the server recovers', async () => {
  const replies = await Promise.all(Array.from({ length: 4 }, () => postForm('/v1/detect', { image: photo })));
  const statuses = replies.map((r) => r.status).sort();
  assert.ok(statuses.includes(200), `statuses ${statuses}`);
  const limited = replies.filter((r) => r.status === 429);
  assert.ok(limited.length >= 1, `expected at least one 429, got ${statuses}`);
  for (const r of limited) assertError(r, 429, 'rate_limited');
  const after = await postForm('/v1/detect', { image: photo });
  assert.equal(after.status, 200);
});
