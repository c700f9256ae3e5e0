// Bounded-concurrency mapping and a plain progress line for long command-line runs.

export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Returns a tick() that prints "label: done/total (rate/s, eta)" every few percent. */
export function progress(label: string, total: number): () => void {
  const t0 = Date.now();
  let done = 0;
  const every = Math.max(1, Math.floor(total / 50));
  return () => {
    done++;
    if (done % every !== 0 && done !== total) return;
    const s = (Date.now() - t0) / 1000;
    const rate = done / s;
    process.stderr.write(`${label}: ${done}/${total} (${rate.toFixed(1)}/s, eta ${Math.round((total - done) / rate)} s)\n`);
  };
}
