// Shared fixtures for the server tests: the model to load, a quiet test config, the photo locations, and an
// in-process HTTP server with the request and assertion helpers the end-to-end tests use.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ApiServer } from './http/server.ts';
import { parseConfig, PROJECT_ROOT, type Config } from './config.ts';

export const SHIPPED_MODEL = resolve(PROJECT_ROOT, 'models/dlib-resnet-port.onnx');
export const REFERENCE_FILE = resolve(PROJECT_ROOT, 'models/dlib-resnet-port.reference.json');
export const DEMO_DIR = resolve(PROJECT_ROOT, 'node_modules/@vladmandic/face-api/demo');
// LFW sits in ../shared beside the checkout (CI lays a copy there too); IRFACE_LFW overrides.
export const LFW_DIR = join(process.env.IRFACE_LFW ?? resolve(PROJECT_ROOT, '../shared/datasets/lfw'), 'images');
export const LFW_MISSING = !existsSync(LFW_DIR);

export const demoPhoto = (n: number): string => join(DEMO_DIR, `sample${n}.jpg`);
export const lfwPhoto = (name: string, n: number): string => join(LFW_DIR, name, `${name}_${String(n).padStart(4, '0')}.jpg`);

/** The admin key every test server is seeded with (IRFACE_ADMIN_KEY); test calls send it unless told not to. */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef';

/**
 * A validated config for in-process test servers: quiet, 2 detection workers, the test model, the test
 * admin key, and a fresh data directory unless one is given.
 */
export function testConfig(env: Record<string, string> = {}): Config {
  return parseConfig({
    IRFACE_MODEL: SHIPPED_MODEL,
    IRFACE_DATA_DIR: env.IRFACE_DATA_DIR ?? freshDataDir(),
    IRFACE_ADMIN_KEY: TEST_ADMIN_KEY,
    IRFACE_DETECT_WORKERS: '2',
    IRFACE_EMBED_THREADS: '2',
    IRFACE_LOG_LEVEL: 'silent',
    ...env,
  });
}

function freshDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'irface-test-data-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- HTTP: a real server on 127.0.0.1 (port 0) and the helpers to call it ----

/** One HTTP reply: the status, the body parsed as JSON (undefined when it is not JSON) and the raw text. */
export interface Reply { status: number; body: any; text: string }

/** Multipart files by field name; an array sends several files under the same field. */
export type Files = Record<string, Buffer | Buffer[]>;

/** A multipart body with every buffer as an image/jpeg file part. */
export function form(files: Files): FormData {
  const fd = new FormData();
  for (const [field, v] of Object.entries(files)) {
    (Array.isArray(v) ? v : [v]).forEach((buf, i) =>
      fd.append(field, new Blob([new Uint8Array(buf)], { type: 'image/jpeg' }), `${field}${i}.jpg`));
  }
  return fd;
}

/** What a reply must never show: stack frames, a "stack" field, installed or source paths, file:line. */
export const NO_INTERNALS = /\bat \S+ \(|\n\s+at |"stack"|node_modules|\/work\/|\w\.(ts|mjs|js):\d+/;

/** Asserts an error reply: status, code, a non-empty message, and nothing of the server's internals. */
export function assertError(r: Reply, status: number, code: string, label = ''): void {
  const why = label ? `${label}: ${r.text}` : r.text;
  assert.equal(r.status, status, why);
  assert.equal(r.body?.error?.code, code, why);
  assert.equal(typeof r.body.error.message, 'string', why);
  assert.ok(r.body.error.message.length > 0, why);
  assert.doesNotMatch(r.text, NO_INTERNALS, 'no stack traces or file paths');
}

/**
 * An in-process server for one test file. The helpers are plain functions (destructure them at module
 * level) that use whichever server is running, so close() then start() restarts it on the same config.
 */
export interface TestServer {
  /** The running app; throws when not started. */
  readonly app: ApiServer;
  /** http://127.0.0.1:PORT of the running app; throws when not started. */
  readonly base: string;
  /** Builds the server from the config and listens on 127.0.0.1, port 0. */
  start(): Promise<void>;
  /** Closes the server if it runs (safe to call when start failed or never ran). */
  close(): Promise<void>;
  call(path: string, init?: RequestInit): Promise<Reply>;
  /** Sends body as JSON; a string is sent as it is (to send malformed JSON). */
  json(method: string, path: string, body: unknown): Promise<Reply>;
  /** POSTs files as multipart/form-data. */
  postForm(path: string, files: Files): Promise<Reply>;
}

export function testServer(config: Config): TestServer {
  let running: { app: ApiServer; base: string } | undefined;
  const current = () => {
    if (!running) throw new Error('test server is not running: call start() first (e.g. in before())');
    return running;
  };
  // Every call carries the admin key unless the test sets its own authorization (or x-api-key) header,
  // or passes `headers: { authorization: '' }` to call anonymously.
  const call = async (path: string, init: RequestInit = {}): Promise<Reply> => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization') && !headers.has('x-api-key')) headers.set('authorization', `Bearer ${TEST_ADMIN_KEY}`);
    else if (headers.get('authorization') === '') headers.delete('authorization');
    const res = await fetch(current().base + path, { ...init, headers });
    const text = await res.text();
    let body: any;
    try { body = JSON.parse(text); } catch { body = undefined; }
    return { status: res.status, body, text };
  };
  return {
    get app() { return current().app; },
    get base() { return current().base; },
    async start() {
      if (running) throw new Error('test server already running');
      // Loaded here, not at the top, so tests that only need the fixtures above do not load the whole server.
      const { buildServer } = await import('./compose.ts');
      const { app } = await buildServer(config, { logger: false });
      let address: AddressInfo;
      try {
        address = await app.listen({ host: '127.0.0.1', port: 0 });
      } catch (e) {
        await app.close();
        throw e;
      }
      running = { app, base: `http://127.0.0.1:${address.port}` };
    },
    async close() {
      const r = running;
      running = undefined;
      await r?.app.close();
    },
    call,
    json: (method, path, body) =>
      call(path, { method, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) }),
    postForm: (path, files) => call(path, { method: 'POST', body: form(files) }),
  };
}
