// Crash safety scenario (crash.test.ts on SQLite, crash-pg.test.ts on PostgreSQL): the real server, SIGKILLed at
// seeded random moments while clients enroll, restarts with every acknowledged write, counts that agree with the
// listed faces, and an index consistent with the store.
//
// The server runs as a child process (`node --import tsx server/main.ts`) on a temp data directory; each round
// starts it, enrolls from several concurrent clients (one also deletes some of its faces), kills it with SIGKILL
// once writes are flowing, and the next start checks everything acknowledged so far. A face whose request was
// cut off by the kill may or may not be there; an acknowledged one must be.
import { after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../config.ts';
import { demoPhoto, form, lfwPhoto, LFW_MISSING, SHIPPED_MODEL, TEST_ADMIN_KEY } from '../test-support.ts';
import { rng } from '../../gallery/test-helpers.ts';

const ROUNDS = 3;
const SEED = 3; // kill points 1800, 96 and 1140 ms after the first acknowledgement of each round
const PHOTOS_PER_PERSON = 30;
const AUTH = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

const dataDir = mkdtempSync(join(tmpdir(), 'irface-crash-'));
let child: ChildProcess | undefined;
let storeEnv: Record<string, string> = {}; // IRFACE_DATABASE_URL for the PostgreSQL run

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited(child);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * Face regions (left, top, side; pixels) of four different people in face-api's demo sample5.jpg (1920x1398),
 * each a square about twice the face found there by RetinaFace. The demo photos are group photos of one cast, so
 * whole photos would share people; one person per region keeps the identities distinct.
 */
const DEMO5_PEOPLE = [[250, 800, 450], [1290, 310, 440], [980, 100, 440], [470, 320, 440]] as const;

/** One-face photos per person: LFW when present, else resized crops of four people of a demo photo (distinct bytes). */
async function people(): Promise<{ name: string; photos: Buffer[] }[]> {
  if (!LFW_MISSING) {
    return ['George_W_Bush', 'Colin_Powell', 'Tony_Blair', 'Donald_Rumsfeld'].map((name) => ({
      name, photos: Array.from({ length: PHOTOS_PER_PERSON }, (_, i) => readFileSync(lfwPhoto(name, i + 1))),
    }));
  }
  const src = readFileSync(demoPhoto(5));
  return Promise.all(DEMO5_PEOPLE.map(async ([left, top, side], n) => {
    const photos = [];
    for (let i = 0; i < PHOTOS_PER_PERSON; i++) {
      photos.push(await sharp(src).extract({ left, top, width: side, height: side }).resize(300 + 6 * i).jpeg({ quality: 90 }).toBuffer());
    }
    return { name: `demo5-person${n + 1}`, photos };
  }));
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address() as { port: number };
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

const exited = (c: ChildProcess) => new Promise<void>((ok) => {
  if (c.exitCode !== null || c.signalCode !== null) ok();
  else c.once('exit', () => ok());
});

/** Starts the server on the data directory and waits until /healthz answers 200; returns its base URL. */
async function start(port: number): Promise<string> {
  const c = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      IRFACE_MODEL: SHIPPED_MODEL, IRFACE_DATA_DIR: dataDir, IRFACE_HOST: '127.0.0.1', IRFACE_PORT: String(port),
      IRFACE_ADMIN_KEY: TEST_ADMIN_KEY, IRFACE_LOG_LEVEL: 'warn', IRFACE_DETECT_WORKERS: '2', IRFACE_EMBED_THREADS: '1',
      ...storeEnv,
    },
  });
  child = c;
  let log = '';
  c.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (c.exitCode !== null) throw new Error(`server exited with ${c.exitCode} before it was ready:\n${log}`);
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) return base;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`server not ready after 90 s:\n${log}`);
}

async function api(base: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(base + path, { ...init, headers: { ...AUTH, ...(init.headers as Record<string, string>) } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

interface Person { name: string; photos: Buffer[]; id: string; next: number }
type FaceState = 'added' | 'deleted' | 'unknown';
interface Ack { person: Person; photo: Buffer; state: FaceState }

/** What clients were told: face id -> its acknowledged state (`unknown`: a delete was cut off by the kill). */
const acks = new Map<string, Ack>();
const serverErrors: string[] = [];

/** Enrolls the person's next photos one request at a time until `stop`; every fourth ack of the deleter is deleted again. */
async function client(base: string, p: Person, deleter: boolean, stop: { now: boolean }, onAck: () => void): Promise<void> {
  let added = 0;
  while (!stop.now && p.next < p.photos.length) {
    const photo = p.photos[p.next++];
    let r: Response;
    try {
      r = await fetch(`${base}/v1/identities/${p.id}/faces?on_multiple_faces=largest`, { method: 'POST', headers: AUTH, body: form({ images: photo }) });
    } catch {
      return; // the server is gone: this request was not acknowledged
    }
    const body = await r.json().catch(() => undefined);
    if (r.status >= 500) serverErrors.push(`enroll ${r.status}: ${JSON.stringify(body)}`);
    if (r.status !== 201) continue; // e.g. no_face: nothing was written
    const faceId: string = body.results[0].face_id;
    acks.set(faceId, { person: p, photo, state: 'added' });
    onAck();
    if (deleter && ++added % 4 === 0) {
      acks.get(faceId)!.state = 'unknown';
      try {
        const d = await fetch(`${base}/v1/identities/${p.id}/faces/${faceId}`, { method: 'DELETE', headers: AUTH });
        if (d.status === 204) acks.get(faceId)!.state = 'deleted';
        else if (d.status >= 500) serverErrors.push(`delete ${d.status}`);
      } catch {
        return;
      }
    }
  }
}

/** Everything acknowledged so far is on the restarted server, counts agree, and the index matches SQLite. */
async function checkRecovered(base: string, persons: Person[], round: number, wroteSinceSave: boolean): Promise<void> {
  const label = `after kill ${round}`;
  const listed = await api(base, '/v1/identities?limit=1000');
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.items.map((i: { id: string }) => i.id).sort(), persons.map((p) => p.id).sort(), `${label}: identities`);
  let withFaces = 0;
  for (const p of persons) {
    const faces = await api(base, `/v1/identities/${p.id}/faces`);
    assert.equal(faces.status, 200);
    const ids = new Set<string>(faces.body.items.map((f: { id: string }) => f.id));
    for (const [faceId, a] of acks) {
      if (a.person !== p) continue;
      if (a.state === 'added') assert.ok(ids.has(faceId), `${label}: acknowledged face ${faceId} of ${p.name} is missing`);
      if (a.state === 'deleted') assert.ok(!ids.has(faceId), `${label}: deleted face ${faceId} of ${p.name} is back`);
    }
    const ident = await api(base, `/v1/identities/${p.id}`);
    assert.equal(ident.body.face_count, ids.size, `${label}: face_count of ${p.name} vs faces listed`);
    if (ids.size > 0) withFaces++;
  }
  const status = await api(base, '/v1/status');
  const index = status.body.gallery.index;
  assert.equal(index.count, withFaces, `${label}: index holds one center per identity with faces: ${JSON.stringify(index)}`);
  // Nothing saved the index since the last start (saves come every 1000 writes, 60 s or at shutdown), so a
  // kill after writes leaves a stale marker that the next start must notice. SQLite rebuilds; PostgreSQL loads
  // the saved index and replays the change log written since it.
  if (wroteSinceSave && !storeEnv.IRFACE_DATABASE_URL) assert.equal(index.source, 'rebuilt', `${label}: ${JSON.stringify(index)}`);
  if (wroteSinceSave && storeEnv.IRFACE_DATABASE_URL) {
    assert.ok(index.source === 'loaded' && index.replayed > 0, `${label}: ${JSON.stringify(index)}`);
  }
  for (const p of persons) {
    const mine = [...acks.values()].find((a) => a.person === p && a.state === 'added');
    if (!mine) continue;
    const s = await api(base, '/v1/search?k=3&max_faces=1', { method: 'POST', body: form({ image: mine.photo }) });
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal(s.body.faces[0]?.matches[0]?.identity.id, p.id, `${label}: an enrolled photo of ${p.name} finds it at rank 1`);
  }
}

/** The whole scenario; `env` adds the store's settings (none: SQLite in the data directory). */
export async function crashScenario(t: TestContext, env: Record<string, string> = {}): Promise<void> {
  storeEnv = env;
  const rand = rng(SEED);
  const port = await freePort();
  const persons: Person[] = (await people()).map((p) => ({ ...p, id: '', next: 0 }));
  let base = await start(port);
  for (const p of persons) {
    const r = await api(base, '/v1/identities', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: p.name }) });
    assert.equal(r.status, 201);
    p.id = r.body.id;
  }
  for (let round = 1; round <= ROUNDS; round++) {
    const stop = { now: false };
    let acked = 0;
    let firstAck!: () => void;
    const flowing = new Promise<void>((ok) => { firstAck = ok; });
    const clients = persons.map((p, i) => client(base, p, i === 0, stop, () => { if (++acked === 1) firstAck(); }));
    // Kill once writes are flowing, at a seeded random moment 0-2.5 s later (mid-request or between requests).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([flowing, new Promise((r) => { timer = setTimeout(r, 30_000); })]);
    clearTimeout(timer);
    assert.ok(acked > 0, `round ${round}: no enrollment acknowledged within 30 s`);
    const delay = Math.floor(rand() * 2500);
    await new Promise((r) => setTimeout(r, delay));
    stop.now = true;
    child!.kill('SIGKILL');
    await exited(child!);
    await Promise.all(clients);
    t.diagnostic(`round ${round}: killed ${delay} ms after the first of ${acked} acknowledged enrollments`);
    base = await start(port);
    await checkRecovered(base, persons, round, acked > 0);
  }
  assert.deepEqual(serverErrors, [], 'no 5xx while running');
  const added = [...acks.values()].filter((a) => a.state === 'added').length;
  assert.ok(added >= ROUNDS, `acknowledged faces over all rounds: ${added}`);
  // The restarted server answers normally, and a clean stop saves the index.
  const h = await fetch(`${base}/healthz`);
  assert.equal(h.status, 200);
  const d = await api(base, '/v1/detect', { method: 'POST', body: form({ image: persons[0].photos[0] }) });
  assert.equal(d.status, 200);
  assert.ok(d.body.faces.length >= 1);
  child!.kill('SIGTERM');
  await exited(child!);
  assert.equal(child!.exitCode, 0, 'SIGTERM stops the server cleanly');
}
