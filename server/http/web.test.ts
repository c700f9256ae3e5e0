// The web client at / and the API reference at /docs: served without a key, with the right types, while the API keeps its keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testConfig, testServer, assertError } from '../test-support.ts';
import { WEB_DIR } from './routes/web.ts';

const server = testServer(testConfig());
const { call } = server;
const anon = { headers: { authorization: '' } };

before(() => server.start());
after(() => server.close());

/** An anonymous GET with the raw response kept (headers, bytes). */
async function get(path: string): Promise<{ status: number; type: string; text: string; res: Response }> {
  const res = await fetch(server.base + path);
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text(), res };
}

test('GET / returns the client page without a key', async () => {
  for (const path of ['/', '/index.html']) {
    const r = await get(path);
    assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 200)}`);
    assert.match(r.type, /^text\/html/);
    assert.match(r.text, /<script type="module" src="app\.js"><\/script>/);
    assert.match(r.text, /<link rel="stylesheet" href="style\.css">/);
    assert.match(r.res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(r.res.headers.get('x-content-type-options'), 'nosniff');
  }
});

test('the scripts and the stylesheet are served with their content types, every imported module too', async () => {
  const css = await get('/style.css');
  assert.equal(css.status, 200);
  assert.match(css.type, /^text\/css/);
  const modules = readdirSync(WEB_DIR).filter((f) => f.endsWith('.js'));
  assert.ok(modules.includes('app.js'), modules.join(', '));
  for (const file of modules) {
    const r = await get(`/${file}`);
    assert.equal(r.status, 200, file);
    assert.match(r.type, /^(text|application)\/javascript/, `${file}: ${r.type}`);
    assert.equal(r.text, readFileSync(join(WEB_DIR, file), 'utf8'));
    // Relative imports must name files that exist (no build step resolves them).
    for (const [, spec] of r.text.matchAll(/from '(\.\/[^']+)'/g)) assert.ok(modules.includes(spec.slice(2)), `${file} imports ${spec}`);
  }
});

test('GET /docs renders the API reference without a key, from local files, and loads the OpenAPI document', async () => {
  const page = await get('/docs');
  assert.equal(page.status, 200, page.text.slice(0, 200));
  assert.match(page.type, /^text\/html/);
  const scripts = [...page.text.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(scripts.some((s) => s.endsWith('/swagger-initializer.js')), scripts.join(', '));
  assert.doesNotMatch(page.text, /https?:\/\//, 'no assets from elsewhere');
  for (const src of scripts) {
    const r = await get(src.startsWith('/') ? src : `/docs/${src.replace(/^\.\//, '')}`);
    assert.equal(r.status, 200, src);
    assert.match(r.type, /javascript/, src);
  }
  // The initializer points Swagger UI at ./json, which serves the same generated document as /openapi.json.
  const init = await get('/docs/static/swagger-initializer.js');
  assert.match(init.text, /resolveUrl\('\.\/json'\)/);
  const [docs, openapi] = await Promise.all([get('/docs/json'), get('/openapi.json')]);
  assert.equal(docs.status, 200);
  assert.deepEqual(JSON.parse(docs.text), JSON.parse(openapi.text));
  assert.ok(JSON.parse(openapi.text).paths['/v1/search'], 'the document describes the API');
});

test('the page routes stay out of the OpenAPI document', async () => {
  const paths = Object.keys(JSON.parse((await get('/openapi.json')).text).paths);
  assert.deepEqual(paths.filter((p) => !p.startsWith('/v1/') && p !== '/healthz' && p !== '/metrics'), [], paths.join(', '));
});

test('the API still needs a key; unknown paths are 404 in the API error shape', async () => {
  assertError(await call('/v1/identities', anon), 401, 'unauthorized');
  assertError(await call('/v1/status', anon), 401, 'unauthorized');
  assertError(await call('/v1/search', { ...anon, method: 'POST' }), 401, 'unauthorized');
  assertError(await call('/v1/identities', { method: 'POST', headers: { authorization: '', 'content-type': 'application/json' }, body: '{"name":"x"}' }), 401, 'unauthorized');
  assert.equal((await call('/v1/identities')).status, 200, 'and works with one');
  for (const path of ['/nope.js', '/server/config.ts', '/%2e%2e/config.ts', '/docs/../../config.ts']) {
    assertError(await call(path, anon), 404, 'not_found', path);
  }
});
