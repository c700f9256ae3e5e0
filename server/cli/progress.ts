// Bounded-concurrency mapping and a progress bar for long command-line runs (plain lines when not a TTY).

export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Returns tick(n = 1) that draws "label [####....] done/total rate eta" on stderr. */
export function progress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): (n?: number) => void {
  const t0 = Date.now();
  const tty = Boolean(stream.isTTY);
  const every = tty ? 1 : Math.max(1, Math.floor(total / 50));
  let done = 0;
  let lastDraw = 0;
  return (n = 1) => {
    if (n <= 0) return;
    done += n;
    const now = Date.now();
    const finished = done >= total;
    if (tty ? !finished && now - lastDraw < 100 : !finished && done % every !== 0) return;
    lastDraw = now;
    const rate = done / Math.max(1e-3, (now - t0) / 1000);
    const eta = Math.round((total - done) / Math.max(rate, 1e-9));
    const text = `${done}/${total} (${rate.toFixed(1)}/s, eta ${eta} s)`;
    if (tty) {
      const width = 30;
      const filled = Math.round((width * done) / Math.max(total, 1));
      stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}${finished ? '\n' : ''}`);
    } else {
      stream.write(`${label}: ${text}\n`);
    }
  };
}
