// Section 3: end-to-end HTTP latency of the real server under autocannon (verify, search; healthz under load).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon, { type Result } from 'autocannon';
import { PROJECT_ROOT } from '../../server/config.ts';
import { buildRuntime } from '../../server/compose.ts';
import type { FacePipeline } from '../../server/services/face-pipeline.ts';
import { benchConfig, childEnv, demoPhotos, lfwPeople, PORTRAIT, portraitJpeg, tempDir, type Photo } from './inputs.ts';
import { atMost, table, type SectionOptions, type SectionResult } from './report.ts';
import { fmt, fmtMs, summarize, timed } from './stats.ts';

const CONCURRENCY = [1, 4, 16];
/** The framework alone: GET /v1/status runs no inference, so its requests/s is the HTTP layer's own cost. */
const STATUS_CONCURRENCY = 16;
const TARGET_VERIFY_P50_MS = 150;
const TARGET_HEALTH_MS = 50;
// The server requires an API key; the benchmark seeds an admin key of its own through IRFACE_ADMIN_KEY.
const KEY = randomBytes(24).toString('hex');
const AUTH = { authorization: `Bearer ${KEY}` };

interface Server {
  kind: string;
  url: string;
  stop(): void;
}

/** Starts scripts/bench/http-server.ts with the given detector on an empty data directory. */
function startServer(detector: string): Promise<Server> {
  const env = childEnv({ IRFACE_DETECTOR: detector, IRFACE_DATA_DIR: tempDir(`http-${detector}`), IRFACE_ADMIN_KEY: KEY });
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'scripts/bench/http-server.ts')], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const stop = () => { child.stdin.end(); child.kill('SIGTERM'); };
  process.once('exit', stop);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`${detector} server did not start within 180 s: ${stderr}`)); }, 180_000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${detector} server exited with code ${code}: ${stderr}`)); });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ kind: detector, url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`, stop });
    });
  });
}

function multipart(files: [field: string, bytes: Buffer][]): { body: Buffer; contentType: string } {
  const boundary = `----irface-bench-${Date.now().toString(16)}`;
  const parts = files.flatMap(([field, bytes]) => [
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${field}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    bytes, Buffer.from('\r\n'),
  ]);
  return { body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** 640x480 photos with exactly one face (as the server sees it), made around the largest face of each source. */
async function singleFacePortraits(pipeline: FacePipeline, sources: Photo[], want: number): Promise<Photo[]> {
  const out: Photo[] = [];
  for (const src of sources) {
    const decoded = await pipeline.decode(src.bytes);
    for (const face of (await pipeline.detect(decoded)).slice(0, 1)) {
      const bytes = await portraitJpeg(decoded.image, face.box);
      if ((await pipeline.analyze(bytes)).faces.length === 1) out.push({ name: src.name, bytes });
    }
    if (out.length >= want) break;
  }
  return out;
}

async function post(url: string, body: unknown): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  if (res.status >= 300 && res.status !== 422) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Creates one identity per photo and enrolls the photo (largest face); returns the faces added. */
async function enroll(server: Server, photos: Photo[]): Promise<number> {
  let added = 0;
  for (const [i, p] of photos.entries()) {
    const identity = await post(`${server.url}/v1/identities`, { name: p.name, external_id: `bench-${i}` });
    const r = await post(`${server.url}/v1/identities/${identity.id}/faces?on_multiple_faces=largest`, { images: [p.bytes.toString('base64')] });
    added += r.added as number;
  }
  return added;
}

/**
 * Waits until requests abandoned by the last run (autocannon stops at its deadline, the server finishes what
 * it accepted) are done: no detection queued or running twice in a row, then one /healthz through the embedder.
 */
async function drain(server: Server): Promise<void> {
  for (let quiet = 0, tries = 0; quiet < 2 && tries < 600; tries++) {
    const res = await fetch(`${server.url}/v1/status`, { headers: AUTH });
    const status = await res.json() as { detector?: { queued?: number } };
    if (!res.ok) throw new Error(`GET /v1/status: ${res.status} ${JSON.stringify(status)}`);
    quiet = (status.detector?.queued ?? 0) === 0 ? quiet + 1 : 0;
    await new Promise((r) => setTimeout(r, 200));
  }
  await (await fetch(`${server.url}/healthz`, { headers: AUTH })).arrayBuffer();
}

/**
 * The server's event-loop delay since the previous call (prom-client resets its histogram on each /metrics
 * read): p50, p99 and max in ms.
 */
async function eventLoopLag(server: Server): Promise<{ p50: number; p99: number; max: number }> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const read = (name: string) => {
    const m = new RegExp(`^irface_process_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`/metrics has no event-loop ${name}`);
    return Number(m[1]) * 1000;
  };
  return { p50: read('p50'), p99: read('p99'), max: read('max') };
}

/** GET /healthz one after another (100 ms apart) until `done` settles; latencies in ms. */
async function sampleHealth(server: Server, done: Promise<unknown>, max = Infinity): Promise<number[]> {
  let finished = false;
  void done.finally(() => { finished = true; });
  const out: number[] = [];
  while (!finished && out.length < max) {
    const { value: res, ms } = await timed(() => fetch(`${server.url}/healthz`, { headers: AUTH }));
    await res.arrayBuffer();
    if (res.ok) out.push(ms);
    await new Promise((r) => setTimeout(r, 100));
  }
  return out;
}

export async function httpSection({ quick, log }: SectionOptions): Promise<SectionResult> {
  const duration = quick ? 5 : 15;
  // Inputs, made in memory with the server's own pipeline (then released before anything is timed).
  const runtime = await buildRuntime(benchConfig({ IRFACE_DETECTOR: 'retinaface' }));
  let pair: Photo[], gallery: Photo[];
  try {
    const people = lfwPeople(60, 2, 2);
    const photosOf = (i: number): Photo[] => people[i].files.map((f) => ({ name: basename(f), bytes: readFileSync(f) }));
    pair = [];
    for (let i = 0; i < people.length && pair.length < 2; i++) {
      const p = await singleFacePortraits(runtime.pipeline, photosOf(i), 2);
      if (p.length === 2) pair = p;
    }
    if (pair.length < 2) pair = await singleFacePortraits(runtime.pipeline, demoPhotos(), 2);
    gallery = people.length > 0 ? people.slice(0, 50).map((_, i) => photosOf(i)[0]) : await singleFacePortraits(runtime.pipeline, demoPhotos(), 50);
  } finally {
    await runtime.close();
  }
  if (pair.length < 2) throw new Error('could not make two single-face 640x480 photos');

  const kinds = quick ? ['retinaface'] : ['retinaface', 'ssd-mobilenet'];
  const servers: Server[] = [];
  try {
    for (const k of kinds) {
      log(`http: starting the ${k} server`);
      servers.push(await startServer(k));
    }
    const enrolled = await Promise.all(servers.map((s) => enroll(s, gallery)));
    const verify = multipart([['image_a', pair[0].bytes], ['image_b', pair[1].bytes]]);
    const search = multipart([['image', pair[0].bytes]]);
    const endpoints = [
      { name: 'POST /v1/verify', path: '/v1/verify', ...verify },
      { name: 'POST /v1/search?k=5', path: '/v1/search?k=5', ...search },
    ];
    // autocannon hands back a thenable run tracker; Promise.resolve makes it a real promise.
    const load = (s: Server, e: (typeof endpoints)[number], connections: number, seconds: number): Promise<Result> => Promise.resolve(autocannon({
      url: `${s.url}${e.path}`, method: 'POST', headers: { ...AUTH, 'content-type': e.contentType }, body: e.body, connections, duration: seconds, timeout: 60,
    }));

    const idle = new Map<string, number[]>();
    for (const s of servers) {
      for (const e of endpoints) await load(s, e, 4, quick ? 2 : 4); // warm-up: JIT, allocator, onnxruntime arenas
      await drain(s);
      idle.set(s.kind, await sampleHealth(s, new Promise(() => undefined), quick ? 5 : 30));
    }
    const rows: (string | number)[][] = [];
    const busy = new Map<string, number[]>();
    const lag = new Map<string, { p50: number; p99: number; max: number }>();
    let verifyP50 = NaN;
    for (const e of endpoints) {
      for (const c of CONCURRENCY) {
        for (const s of servers) {
          log(`http: ${s.kind} ${e.name} concurrency ${c} for ${duration} s`);
          const saturated = c === Math.max(...CONCURRENCY);
          if (saturated) await eventLoopLag(s); // resets the server's event-loop histogram
          const run = load(s, e, c, duration);
          const health = saturated ? sampleHealth(s, run) : Promise.resolve([]);
          const [r, h] = await Promise.all([run, health]);
          if (saturated) lag.set(`${s.kind} ${e.name}`, await eventLoopLag(s));
          await drain(s);
          if (h.length > 0) busy.set(`${s.kind} ${e.name}`, h);
          if (e.path === '/v1/verify' && c === 1 && s.kind === 'retinaface') verifyP50 = r.latency.p50;
          rows.push([e.name, s.kind, c, r['2xx'], fmt(r['2xx'] / r.duration), fmtMs(r.latency.p50), fmtMs(r.latency.p99),
            r.non2xx + r.errors + r.timeouts]);
        }
      }
    }

    // The framework row: routing, key check, logging and JSON of a small answer, with the inference threads idle.
    for (const s of servers) {
      log(`http: ${s.kind} GET /v1/status concurrency ${STATUS_CONCURRENCY} for ${duration} s`);
      const r = await Promise.resolve(autocannon({ url: `${s.url}/v1/status`, headers: AUTH, connections: STATUS_CONCURRENCY, duration, timeout: 60 }));
      rows.push(['GET /v1/status (no inference)', s.kind, STATUS_CONCURRENCY, r['2xx'], fmt(r['2xx'] / r.duration), fmtMs(r.latency.p50), fmtMs(r.latency.p99),
        r.non2xx + r.errors + r.timeouts]);
    }

    const healthRows = [...busy.entries()].map(([key, h]) => {
      const kind = key.split(' ')[0];
      const i = summarize(idle.get(kind)!), b = summarize(h), l = lag.get(key);
      return [key.slice(kind.length + 1), kind, `${fmtMs(i.p50)} / ${fmtMs(i.p99)} (${i.n})`, `${fmtMs(b.p50)} / ${fmtMs(b.p99)} (${b.n})`,
        l ? `${fmtMs(l.p50)} / ${fmtMs(l.p99)} / ${fmtMs(l.max)}` : '-'];
    });
    const worst = [...busy.entries()].filter(([key]) => key.startsWith('retinaface ')).map(([, h]) => summarize(h).p99);
    const body = [
      `The real server (\`buildServer\`, default configuration, \`IRFACE_DETECTOR=${kinds.join('` and `')}\`) runs in a child process on ` +
        `127.0.0.1 with an empty temporary data directory; autocannon drives it from this process (every request carries an API key, as the server requires) for ${duration} s per row after a warm-up; ` +
        'between rows the server is left to finish the requests autocannon abandoned at its deadline. ' +
        `Verify sends two ${PORTRAIT.width}x${PORTRAIT.height} JPEGs (${pair[0].bytes.length} and ${pair[1].bytes.length} bytes, one face each, ` +
        `made in memory from ${pair.map((p) => p.name).join(' and ')}) as multipart; search sends the first of them against a gallery of ` +
        `${enrolled.join(' / ')} identities with one enrolled face each (LFW or demo photos, sent as base64 JSON before the runs). Latency is autocannon's per-request histogram (1 ms resolution); ` +
        `requests/s = completed 2xx / duration. The client shares the machine's ${cpus().length} cores with the server. ` +
        `The \`GET /v1/status\` rows run no inference: they measure the HTTP layer itself (express routing, the API-key check, ` +
        'request ids, metrics and a 2.5 KB JSON answer).',
      table(['endpoint', 'detector', 'concurrency', 'requests', 'requests/s', 'latency p50 ms', 'latency p99 ms', 'errors'], rows),
      `GET /healthz sampled one at a time, 100 ms apart: idle, and while the server is saturated at concurrency ` +
        `${Math.max(...CONCURRENCY)}. It answers from the latest background inference self-test (a stored face re-embedded ` +
        'every IRFACE_HEALTH_INTERVAL_MS), so its latency is the event loop\'s: the server\'s own event-loop delay during the ' +
        'saturated run (prom-client\'s monitor, 10 ms resolution) is shown beside it.',
      table(['load alongside', 'detector', 'idle p50 / p99 ms (n)', 'under load p50 / p99 ms (n)', 'event-loop delay under load p50 / p99 / max ms'], healthRows),
    ];
    return {
      id: 'http', title: '3. End-to-end HTTP latency', body,
      targets: [
        atMost('POST /v1/verify latency p50 at concurrency 1 (RetinaFace detector)', verifyP50, TARGET_VERIFY_P50_MS, (v) => `${fmtMs(v)} ms`),
        atMost(`GET /healthz p99 while saturated at concurrency ${Math.max(...CONCURRENCY)} (RetinaFace detector, worst endpoint)`,
          Math.max(...worst), TARGET_HEALTH_MS, (v) => `${fmtMs(v)} ms`),
      ],
    };
  } finally {
    for (const s of servers) s.stop();
  }
}
