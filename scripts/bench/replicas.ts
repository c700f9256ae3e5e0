// Section 6: several replicas on one PostgreSQL gallery: propagation delay between replicas, search throughput
// of 1 vs 2 replicas pinned to one core each, and a replica's start-up on 100k identities (saved index vs rebuild).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { PROJECT_ROOT } from '../../server/config.ts';
import { startReplica, type ReplicaProcess } from '../../server/replica-process.ts';
import { openGallery } from '../../gallery/open.ts';
import { freePort, startTestPg, type TestPg } from '../../gallery/pg-test-server.ts';
import { INDEX_FILE } from '../../gallery/open.ts';
import { benchModel, DEMO_DIR, tempDir } from './inputs.ts';
import { bulkFill, multipart, propagationVector, PROPAGATION_DIM, roundRobinProxy } from './replica-fixtures.ts';
import { atMost, table, type SectionOptions, type SectionResult } from './report.ts';
import { fmt, fmtBytes, fmtMs, summarize } from './stats.ts';

const KEY = 'bench-replicas-admin-key-0123456789';
const load = () => loadavg().map((v) => v.toFixed(2)).join(' / ');
const epochMs = () => performance.timeOrigin + performance.now();

/** Enrols `count` one-face identities on a leader gallery; a follower process reports when its index finds each. */
async function propagation(pgs: TestPg, count: number, log: (m: string) => void): Promise<number[]> {
  const url = await pgs.newDatabase();
  const leader = await openGallery({ dataDir: tempDir('leader'), databaseUrl: url, modelId: 'bench-propagation', dim: PROPAGATION_DIM });
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'scripts/bench/replica-follower.ts'), url, tempDir('follower'), String(count), '1'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => String((await lines.next()).value);
  if ((await next()) !== 'ready') throw new Error('follower did not start');
  const delays: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = (await leader.createIdentity({ name: `p${i}` })).id;
    const v = propagationVector(1, i);
    const sha = createHash('sha256').update(`propagation-${i}`).digest('hex');
    const r = await leader.addFaces(id, [{ embedding: v, detScore: 0.99, box: { x: 0, y: 0, width: 100, height: 100 }, imageSha256: sha, crop: null }]);
    if (r.results[0].status !== 'added') throw new Error(`leader enrolment ${i}: ${JSON.stringify(r.results[0])}`);
    const acked = epochMs();
    const [j, seen] = (await next()).split(' ');
    if (Number(j) !== i) throw new Error(`follower reported ${j}, expected ${i}`);
    delays.push(Number(seen) - acked);
    if ((i + 1) % 50 === 0) log(`replicas: propagation ${i + 1}/${count}`);
  }
  await new Promise((ok) => child.once('exit', ok));
  await leader.close();
  return delays;
}

/**
 * Center writes/s that one database takes from two replicas: 8 concurrent one-face enrolments per replica, each
 * writer into its own identity (no row contention: what remains is the change log's counter row and the commit).
 */
async function writeRate(pgs: TestPg, seconds: number): Promise<{ perSec: number; total: number }> {
  const url = await pgs.newDatabase();
  const open = (name: string) => openGallery({ dataDir: tempDir(name), databaseUrl: url, modelId: 'bench-writes', dim: PROPAGATION_DIM });
  const replicas = [await open('w-a'), await open('w-b')];
  let total = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(replicas.flatMap((g, r) => Array.from({ length: 8 }, async (_, w) => {
    const id = (await g.createIdentity({ name: `writer-${r}-${w}` })).id;
    for (let i = 0; performance.now() < deadline; i++) {
      const sha = createHash('sha256').update(`${r}-${w}-${i}`).digest('hex');
      const res = await g.addFaces(id, [{ embedding: propagationVector(2 + r * 8 + w, i), detScore: 0.99, box: { x: 0, y: 0, width: 100, height: 100 }, imageSha256: sha, crop: null }]);
      if (res.results[0].status !== 'added') throw new Error(`write rate: ${JSON.stringify(res.results[0])}`);
      total++;
    }
  })));
  await Promise.all(replicas.map((g) => g.close()));
  return { perSec: total / seconds, total };
}

/** Search requests/s through a round-robin proxy to `replicas` servers, each pinned to its own core. */
async function throughput(url: string, cores: number[], seconds: number, photo: Buffer, log: (m: string) => void) {
  const replicas: ReplicaProcess[] = [];
  try {
    for (const [i, core] of cores.entries()) {
      replicas.push(await startReplica({
        IRFACE_DATABASE_URL: url, IRFACE_DATA_DIR: tempDir(`tp${cores.length}-${i}`), IRFACE_PORT: String(await freePort()),
        IRFACE_MODEL: benchModel().path, IRFACE_ADMIN_KEY: KEY, IRFACE_LOG_LEVEL: 'silent',
      }, { wrap: ['taskset', '-c', String(core)], timeoutMs: 240_000 }));
    }
    const proxy = await roundRobinProxy(replicas.map((r) => r.base));
    const { body, contentType } = multipart('image', photo);
    const run = (duration: number) => autocannon({
      url: `${proxy.url}/v1/search?k=5&max_faces=1`, method: 'POST', body, connections: 4 * cores.length, duration, timeout: 60,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': contentType },
    });
    await run(3); // warm-up: sessions, caches, connection pools
    const loadBefore = load();
    log(`replicas: search through ${cores.length} replica(s) for ${seconds} s`);
    const r = await run(seconds);
    await proxy.close();
    return { rps: r['2xx'] / r.duration, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx + r.errors, loadBefore, loadAfter: load() };
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
  }
}

export async function replicasSection({ quick, log }: SectionOptions): Promise<SectionResult> {
  const N_PROP = quick ? 40 : 200;
  const N_GALLERY = quick ? 10_000 : 100_000;
  const SECONDS = quick ? 5 : 15;
  const pgs = await startTestPg();
  // Interrupted runs still stop the cluster (its exit hook runs on process.exit, not on a signal).
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  try {
    // 1. Propagation.
    const loadProp = load();
    const delays = summarize(await propagation(pgs, N_PROP, log));
    const propRow = [N_PROP, fmtMs(delays.p50), fmtMs(delays.p99), fmtMs(delays.max), `${loadProp} → ${load()}`];
    const loadWrites = load();
    log(`replicas: write rate for ${SECONDS} s`);
    const writes = await writeRate(pgs, SECONDS);
    const writeRow = [fmt(writes.perSec), writes.total, SECONDS, `${loadWrites} → ${load()}`];

    // 2. Search throughput: 1 replica on core 0 vs 2 replicas on cores 0 and 1, same gallery (the 4 demo people).
    const url = await pgs.newDatabase();
    const photos = await Promise.all([2, 3, 4, 5].map((n) => sharp(readFileSync(join(DEMO_DIR, `sample${n}.jpg`))).resize(640).jpeg({ quality: 90 }).toBuffer()));
    const seedReplica = await startReplica({ IRFACE_DATABASE_URL: url, IRFACE_DATA_DIR: tempDir('seed'), IRFACE_PORT: String(await freePort()),
      IRFACE_MODEL: benchModel().path, IRFACE_ADMIN_KEY: KEY, IRFACE_LOG_LEVEL: 'silent' }, { timeoutMs: 240_000 });
    const auth = { authorization: `Bearer ${KEY}` };
    for (const [i, p] of photos.entries()) {
      const id = await (await fetch(`${seedReplica.base}/v1/identities`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: `demo-${i}` }) })).json() as { id: string };
      const { body, contentType } = multipart('images', p);
      const r = await fetch(`${seedReplica.base}/v1/identities/${id.id}/faces?on_multiple_faces=largest`, { method: 'POST', headers: { ...auth, 'content-type': contentType }, body: new Uint8Array(body) });
      if (r.status !== 201) throw new Error(`seeding the gallery: enrol answered ${r.status}`);
    }
    await seedReplica.stop();
    const one = await throughput(url, [0], SECONDS, photos[0], log);
    const two = await throughput(url, [0, 1], SECONDS, photos[0], log);
    const tpRows = [['1 replica (core 0)', one], ['2 replicas (cores 0, 1)', two]].map(([name, r]) => {
      const x = r as typeof one;
      return [name as string, fmt(x.rps), fmtMs(x.p50), fmtMs(x.p99), x.non2xx, `${x.loadBefore} → ${x.loadAfter}`];
    });

    // 3. Start-up of a replica on a large gallery: full rebuild, then from its saved index after 1,000 changes.
    const bigUrl = await pgs.newDatabase();
    const dataDir = tempDir('startup');
    const open = () => openGallery({ dataDir, databaseUrl: bigUrl, modelId: 'bench-startup', dim: PROPAGATION_DIM, savePolicy: { afterChanges: 0, intervalMs: 0 } });
    await (await openGallery({ dataDir: tempDir('bind'), databaseUrl: bigUrl, modelId: 'bench-startup', dim: PROPAGATION_DIM })).close();
    log(`replicas: filling ${N_GALLERY} identities`);
    await bulkFill(bigUrl, N_GALLERY, PROPAGATION_DIM, 'bench-startup', 3, (d) => { if (d % 20_000 === 0) log(`replicas: filled ${d}`); });
    const loadStart = load();
    let t = performance.now();
    let g = await open();
    const rebuilt = { ...g.indexReport!, wall: performance.now() - t };
    t = performance.now();
    await g.close(); // the rebuild already saved the index with its log sequence
    const closeMs = performance.now() - t;
    await bulkFill(bigUrl, 1000, PROPAGATION_DIM, 'bench-startup', 4); // written "while this replica was down"
    t = performance.now();
    g = await open();
    const loaded = { ...g.indexReport!, wall: performance.now() - t };
    await g.close();
    const fileBytes = statSync(join(dataDir, INDEX_FILE)).size;
    const startRows = [
      ['full rebuild (no saved index)', rebuilt.source, fmt(rebuilt.count), fmtMs(rebuilt.wall), '-'],
      ['saved index + 1,000 newer log entries', `${loaded.source}, replayed ${loaded.replayed}`, fmt(loaded.count), fmtMs(loaded.wall), fmtBytes(fileBytes)],
    ];

    const ratio = two.rps / one.rps;
    return {
      id: 'replicas',
      title: '6. Replicas on one PostgreSQL gallery',
      body: [
        `A throwaway PostgreSQL ${'15'} cluster on this machine (scripts/pg-test-server.sh: fsync off, so commits cost no disk flush; a production server's commit latency adds to every write).`,
        `**Propagation.** A leader gallery in this process enrols ${N_PROP} one-face identities one after another (synthetic 128-d unit vectors); ` +
          'a follower replica in a second process (its own pool, LISTEN connection and HNSW index) polls its index for each and reports the moment its search finds it. ' +
          'Delay = follower\'s time of finding it − leader\'s time of the acknowledged addFaces (one clock, two processes).',
        table(['enrolments', 'p50 ms', 'p99 ms', 'max ms', 'load average (1/5/15) before → after'], [propRow]),
        `**Center writes.** Two replica galleries in this process, 8 concurrent writers each, every writer enrolling one face at a time into its own identity for ${SECONDS} s ` +
          '(each enrolment: identity row lock, face insert, center update, change-log entry, commit). Without row contention, what bounds this is the change log\'s ' +
          'counter row, held from the center update to the commit, and the machine (both replicas and PostgreSQL share its cores).',
        table(['acknowledged enrolments/s', 'enrolments', 'seconds', 'load average before → after'], [writeRow]),
        `**Search throughput.** Real servers (\`node --import tsx server/main.ts\`, 1 detection and 1 embedding thread each) pinned with \`taskset -c\` to one core each, ` +
          `behind a small round-robin Node proxy in this process; autocannon (4 connections per replica, ${SECONDS} s after a 3 s warm-up) posts one 640-px demo photo to /v1/search. ` +
          'The proxy and autocannon are not pinned: they share the two cores with the replicas.',
        table(['setup', 'search requests/s', 'p50 ms', 'p99 ms', 'non-2xx/errors', 'load average before → after'], tpRows),
        `Ratio 2 replicas / 1 replica: ${fmt(ratio)}x.`,
        `**Start-up on ${fmt(N_GALLERY)} identities.** Gallery open (index part of a server start: model loading excluded) of a replica on a gallery filled through SQL ` +
          `(one face and center each, 128-d). First with an empty data directory (rebuild from the stored centers, which also saves the index), then, after the replica was closed ` +
          `(${fmtMs(closeMs)} ms) and another 1,000 identities were written, from the saved index replaying only the newer log entries.`,
        table(['start', 'index', 'centers', 'open ms', 'index file'], startRows),
        `Load average before the start-up runs: ${loadStart}; after: ${load()}.`,
      ],
      targets: [
        atMost('propagation A→B p99 (the tested promise is 1 s)', delays.p99, 1000, fmtMs),
      ],
    };
  } finally {
    await pgs.stop();
  }
}
