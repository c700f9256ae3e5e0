// Section 5: enrollment throughput of `irface enroll <folder>` (the real command, spawned) on LFW people.
import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PROJECT_ROOT } from '../../server/config.ts';
import { childEnv, lfwAvailable, lfwPeople, LFW_IMAGES, tempDir } from './inputs.ts';
import { table, type SectionOptions, type SectionResult } from './report.ts';
import { fmt, now } from './stats.ts';

interface EnrollRun {
  detector: string;
  wallS: number;
  /** The command's own rate from its last progress line (after start-up). */
  rate: number | null;
  summary: { people: number; created: number; images: number; added: number; skipped: number; failures: Record<string, number> };
}

function enroll(folder: string, detector: string, log: (m: string) => void): Promise<EnrollRun> {
  const env = childEnv({ IRFACE_DETECTOR: detector, IRFACE_DATA_DIR: tempDir(`enroll-${detector}`) });
  const t0 = now();
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/irface.mjs'), 'enroll', folder], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '', lastProgress = '', lastLog = 0;
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
    const lines = d.toString().split(/[\r\n]/).filter((l) => l.includes('/s, eta'));
    if (lines.length > 0) {
      lastProgress = lines[lines.length - 1];
      if (now() - lastLog > 10_000) { // a line every 10 s is plenty
        lastLog = now();
        log(`enroll (${detector}): ${lastProgress.trim()}`);
      }
    }
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`irface enroll (${detector}) exited with code ${code}: ${stderr}`));
      const rate = /\(([\d.]+)\/s, eta/.exec(lastProgress);
      resolve({ detector, wallS: (now() - t0) / 1000, rate: rate ? Number(rate[1]) : null, summary: JSON.parse(stdout) });
    });
  });
}

export async function enrollSection({ quick, log }: SectionOptions): Promise<SectionResult> {
  const title = '5. Enrollment throughput (`irface enroll`)';
  if (!lfwAvailable()) {
    return { id: 'enroll', title, body: [`Skipped: LFW not found at ${LFW_IMAGES} (set IRFACE_LFW).`], targets: [] };
  }
  // A folder per person of symlinks to their LFW photos (at most 10 each), as `irface enroll` expects.
  const people = lfwPeople(quick ? 10 : 100, 1, 10);
  const folder = join(tempDir('enroll-people'), 'people');
  for (const p of people) {
    mkdirSync(join(folder, p.name), { recursive: true });
    for (const f of p.files) symlinkSync(f, join(folder, p.name, basename(f)));
  }
  const images = people.reduce((n, p) => n + p.files.length, 0);
  const runs: EnrollRun[] = [];
  for (const detector of quick ? ['retinaface'] : ['retinaface', 'ssd-mobilenet', 'faceapi']) runs.push(await enroll(folder, detector, log));
  return {
    id: 'enroll',
    title,
    body: [
      `\`node bin/irface.mjs enroll <folder>\` with \`IRFACE_DETECTOR\` set as shown, everything else default, an empty data ` +
        `directory each time: ${people.length} LFW people spread over the alphabet, up to 10 photos each (${images} images, 250x250 JPEG). ` +
        'Wall time includes start-up (model loading, self-checks); the steady rate is the command\'s own progress counter, which starts ' +
        'after start-up. Photos with several faces are rejected (`multiple_faces`), as the command does by default.',
      table(['detector', 'images', 'wall s', 'images/s (wall)', 'images/s (steady, from progress)', 'people created', 'faces added', 'failures by code'],
        runs.map((r) => [r.detector, r.summary.images, fmt(r.wallS), fmt(r.summary.images / r.wallS), r.rate === null ? 'n/a' : fmt(r.rate),
          r.summary.created, r.summary.added,
          Object.entries(r.summary.failures).map(([c, n]) => `${c}: ${n}`).join(', ') || 'none'])),
    ],
    targets: [],
  };
}
