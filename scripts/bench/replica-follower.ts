// Child process of the replicas benchmark: a second replica (its own gallery, pool, listener and index) that
// waits for each of the leader's enrolments in turn and prints "<i> <epoch ms>" the moment its index finds it.
// Usage: node --import tsx scripts/bench/replica-follower.ts <databaseUrl> <dataDir> <count> <seed>
import { openGallery } from '../../gallery/open.ts';
import { propagationVector, PROPAGATION_DIM } from './replica-fixtures.ts';

const [url, dataDir, countArg, seedArg] = process.argv.slice(2);
const epochMs = () => performance.timeOrigin + performance.now();

const g = await openGallery({ dataDir, databaseUrl: url, modelId: 'bench-propagation', dim: PROPAGATION_DIM, savePolicy: { afterChanges: 0, intervalMs: 0 } });
process.stdout.write('ready\n');
for (let i = 0; i < Number(countArg); i++) {
  const v = propagationVector(Number(seedArg), i);
  // Polls the local index (each poll also reads the hit's identity row, as a real search does).
  for (;;) {
    const hit = (await g.search(v, 1))[0];
    if (hit && hit.similarity > 1 - 1e-4) break;
    await new Promise((r) => setImmediate(r));
  }
  process.stdout.write(`${i} ${epochMs()}\n`);
}
await g.close();
