// `npm run bench`: runs the benchmark sections one after another and writes docs/BENCHMARKS.md from what they measured.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../../server/config.ts';
import { benchModel, packageVersion } from './inputs.ts';
import { table, type Section, type SectionResult, type TargetCheck } from './report.ts';
import { detectSection } from './detect.ts';
import { embedSection } from './embed.ts';
import { httpSection } from './http.ts';
import { gallerySection } from './gallery.ts';
import { enrollSection } from './enroll.ts';
import { mergeReport } from './merge.ts';
import { replicasSection } from './replicas.ts';

const SECTIONS: Record<string, { title: string; run: Section }> = {
  detect: { title: '1. Detection per photo', run: detectSection },
  embed: { title: '2. Embedding throughput', run: embedSection },
  http: { title: '3. End-to-end HTTP latency', run: httpSection },
  gallery: { title: '4. Gallery search at 100k and 1M identities', run: gallerySection },
  enroll: { title: '5. Enrollment throughput (`irface enroll`)', run: enrollSection },
  replicas: { title: '6. Replicas on one PostgreSQL gallery', run: replicasSection },
};

const USAGE = `usage: npm run bench [-- --quick] [-- --only ${Object.keys(SECTIONS).join(',')} [--merge]] [-- --out FILE] [-- --note TEXT]
  --quick   small sizes and short runs (smoke test); writes to a temp file unless --out is given
  --only    run only these sections (comma-separated); also writes to a temp file unless --out is given
  --merge   with --only: replace just those sections (and their Targets rows) in the report (default
            docs/BENCHMARKS.md), keeping the other sections' figures; each gets a line on when and how it ran
  --out     where the report goes (default docs/BENCHMARKS.md for a full run)
  --note    a line added to the report (e.g. what else ran on the machine)`;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    note: { type: 'string' },
    merge: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const only = args.only ? args.only.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(SECTIONS);
const unknown = only.filter((id) => !(id in SECTIONS));
if (unknown.length > 0) {
  console.error(`bench: unknown section ${unknown.map((u) => `"${u}"`).join(', ')}; expected one of ${Object.keys(SECTIONS).join(', ')}\n${USAGE}`);
  process.exit(2);
}
if (args.merge && (!args.only || args.quick)) {
  console.error(`bench: --merge needs --only and full runs (no --quick): quick figures never replace reference ones\n${USAGE}`);
  process.exit(2);
}
const partial = (args.quick || Boolean(args.only)) && !args.merge;
const out = resolve(args.out ?? (partial ? join(tmpdir(), 'irface-BENCHMARKS.md') : join(PROJECT_ROOT, 'docs/BENCHMARKS.md')));
if (args.merge && !existsSync(out)) {
  console.error(`bench: --merge: ${out} does not exist; run the whole benchmark first`);
  process.exit(2);
}

const t0 = Date.now();
const log = (m: string) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}\n`);

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1].trim();
  } catch { /* not Linux */ }
  return cpus()[0]?.model ?? 'unknown';
}

/** Other processes using at least 10% of a core over one second (Linux /proc), busiest first. */
async function busyProcesses(): Promise<string[]> {
  const ticks = (): Map<number, number> => {
    const out = new Map<number, number>();
    let pids: string[] = [];
    try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return out; }
    for (const pid of pids) {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        out.set(Number(pid), Number(fields[11]) + Number(fields[12])); // utime + stime
      } catch { /* exited */ }
    }
    return out;
  };
  const before = ticks();
  await new Promise((r) => setTimeout(r, 1000));
  const busy: [number, string][] = [];
  for (const [pid, t] of ticks()) {
    const share = (t - (before.get(pid) ?? t)) / 100; // USER_HZ is 100 on Linux
    if (pid === process.pid || share < 0.1) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 100);
      busy.push([share, `\`${cmd}\` (${Math.round(share * 100)}% of a core)`]);
    } catch { /* exited */ }
  }
  return busy.sort((a, b) => b[0] - a[0]).map(([, text]) => text);
}

function commandLine(): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  const argv = process.argv.slice(2).map(quote).join(' ');
  return process.env.npm_lifecycle_event === 'bench' ? `npm run bench${argv ? ` -- ${argv}` : ''}` : `node --import tsx scripts/bench/run.ts ${argv}`.trim();
}

function status(t: TargetCheck): string {
  if (t.met === null) return `not checked (${t.measured.replace(/^not measured: /, '')})`;
  return t.met ? 'met' : `**MISSED**: ${t.shortfall}`;
}

/** The commit the benchmark ran on, and whether tracked files differed from it. */
function sourceRevision(): string {
  const git = (...a: string[]) => spawnSync('git', a, { cwd: PROJECT_ROOT, encoding: 'utf8' });
  const head = git('rev-parse', '--short=12', 'HEAD');
  if (head.status !== 0) return 'unknown (not a git checkout)';
  const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.split('\n').filter(Boolean)
    .filter((l) => !l.endsWith('docs/BENCHMARKS.md'));
  return `git ${head.stdout.trim()}${dirty.length > 0 ? ` with ${dirty.length} changed tracked file(s)` : ''}`;
}

async function main() {
  const loadStart = loadavg();
  const busyStart = await busyProcesses();
  const started = new Date();
  const results: SectionResult[] = [];
  for (const id of only) {
    const { title, run } = SECTIONS[id];
    log(`${title}: start`);
    const s0 = Date.now();
    try {
      const r = await run({ quick: args.quick!, log });
      r.body.push(`_Section run time: ${((Date.now() - s0) / 1000).toFixed(0)} s._`);
      results.push(r);
    } catch (e) {
      const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
      log(`${title}: FAILED\n${msg}`);
      results.push({ id, title, body: [`\`\`\`\nsection failed: ${msg}\n\`\`\``], targets: [{ what: title, target: 'section runs', measured: 'failed', met: false, shortfall: 'the section failed' }] });
    }
    log(`${title}: done in ${((Date.now() - s0) / 1000).toFixed(0)} s`);
  }
  const seconds = (Date.now() - t0) / 1000;
  const loadEnd = loadavg();
  const busyEnd = await busyProcesses();
  if (args.merge) {
    // The report's Machine table describes the run that wrote the other sections; this line describes this one.
    const loads = (l: number[]) => l.map((v) => v.toFixed(2)).join(' / ');
    for (const r of results) {
      r.body.unshift(`_Rerun alone by \`${commandLine()}\` on ${started.toISOString().replace(/\.\d+Z$/, 'Z')}, source ${sourceRevision()}; ` +
        `load average (1/5/15 min) ${loads(loadStart)} at start and ${loads(loadEnd)} at end; other processes using CPU at start: ` +
        `${busyStart.join('; ') || 'none'}; at end: ${busyEnd.join('; ') || 'none'}. The Machine table above describes the run of the other sections._`);
    }
  }

  const versions = [
    ['node', process.versions.node],
    ...['onnxruntime-node', '@vladmandic/face-api', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'hnswlib-node', 'sharp', 'autocannon']
      .map((p) => [p, packageVersion(p)]),
  ];
  const doc = [
    '# Benchmarks',
    `Written by \`${commandLine()}\` (scripts/bench/) on ${started.toISOString().replace(/\.\d+Z$/, 'Z')}; every number below comes from that run. ` +
      'Rerun it rather than editing this file.' + (args.quick ? ' **Quick mode: small sizes and short runs, a smoke test, not the reference figures.**' : ''),
    '## Machine',
    table(['what', 'value'], [
      ['CPU', cpuModel()],
      ['cores (logical, as Node sees them)', cpus().length],
      ['RAM', `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`],
      ['kernel', release()],
      ...versions,
      ['command', `\`${commandLine()}\``],
      ['source', sourceRevision()],
      ['run time', `${(seconds / 60).toFixed(1)} min (${seconds.toFixed(0)} s)`],
      ['load average (1/5/15 min) at start', loadStart.map((v) => v.toFixed(2)).join(' / ')],
      ['load average (1/5/15 min) at end', loadEnd.map((v) => v.toFixed(2)).join(' / ')],
      ['other processes using CPU at start', busyStart.join('; ') || 'none'],
      ['other processes using CPU at end', busyEnd.join('; ') || 'none'],
    ]),
    'Everything runs on the CPU. Configuration is the server default except where a section says otherwise ' +
      '(the caller\'s IRFACE_* variables are ignored). Other processes busy at the start or the end shared the cores with the benchmark: absolute times are then inflated, and ratios shift as the contention varies.' +
      (benchModel().placeholderThreshold ? ' The model card had no calibrated default threshold yet; a copy with a placeholder threshold was used (thresholds change no timing).' : '') +
      (args.note ? `\n\nNote: ${args.note}` : ''),
    '## Targets',
    table(['section', 'what', 'target', 'measured', 'result'],
      results.flatMap((r) => r.targets.map((t) => [r.title.split(' ')[0].replace('.', ''), t.what, t.target, t.measured, status(t)]))),
    ...results.flatMap((r) => [`## ${r.title}`, ...r.body]),
  ].join('\n\n') + '\n';
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, args.merge ? mergeReport(readFileSync(out, 'utf8'), doc, only.map((id) => Number(SECTIONS[id].title.split('.')[0])), commandLine()) : doc);
  log(`wrote ${relative(process.cwd(), out) || out} (${(seconds / 60).toFixed(1)} min)`);
  const failed = results.filter((r) => r.targets.some((t) => t.measured === 'failed'));
  process.exit(failed.length > 0 ? 1 : 0);
}

main().catch((e) => {
  console.error(`bench: ${e instanceof Error ? e.stack : String(e)}`);
  process.exit(1);
});
