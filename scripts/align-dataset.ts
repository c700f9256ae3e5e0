// `npm run align-dataset -- <in> <out>`: aligned training crops made by the server's own pipeline.
// <in> holds a folder per identity; <out> receives <identity>/<image>.png crops at the model card's size.
import { readdirSync, mkdirSync, existsSync, writeFileSync, statSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve, parse as parsePath } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { parseConfig } from '../server/config.ts';
import { buildRuntime } from '../server/compose.ts';
import { JsonlCache, detectionCacheKey } from './lfw/cache.ts';
import { detectSubject, subjectFace, type SubjectDetections } from './lfw/choose.ts';
import { mapLimit, progress } from '../server/cli/progress.ts';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    people: { type: 'string' }, // optional list file (LFW people*.txt format or one name per line)
    // centre: the plausible face nearest the centre, as eval:lfw chooses (LFW); largest: the largest face
    policy: { type: 'string', default: 'centre' },
    cache: { type: 'string' }, // detection cache folder (default <out>); eval:lfw's cache can be shared
  },
});


function readPeople(path: string): Set<string> {
  return new Set(readFileSync(path, 'utf8').split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((n) => n && !/^\d+$/.test(n)));
}

async function main() {
  const [input, output] = positionals.map((p) => resolve(p));
  if (!input || !output || !existsSync(input)) {
    console.error('usage: npm run align-dataset -- <in: a folder per identity> <out> [--people FILE] [--policy centre|largest] [--cache DIR]');
    process.exit(2);
  }
  const config = parseConfig();
  const rt = await buildRuntime(config, (m) => console.error(m));
  const { pipeline, model, detector } = rt;
  const people = opts.people ? readPeople(opts.people) : null;
  const jobs: { id: string; file: string }[] = [];
  for (const id of readdirSync(input).sort()) {
    if (people && !people.has(id)) continue;
    if (!statSync(join(input, id)).isDirectory()) continue;
    for (const file of readdirSync(join(input, id)).sort()) {
      if (/\.(jpe?g|png|webp|gif)$/i.test(file)) jobs.push({ id, file });
    }
  }
  mkdirSync(output, { recursive: true });
  const detKey = detectionCacheKey(config, detector.version);
  const cache = new JsonlCache<SubjectDetections>(join(opts.cache ? resolve(opts.cache) : join(output, '.cache'), `${detKey}.jsonl`));
  let skipped = 0, written = 0;
  const tick = progress('align', jobs.length);
  await mapLimit(jobs, config.detectWorkers * 2, async ({ id, file }) => {
    const key = `${id}/${file}`;
    const target = join(output, id, `${parsePath(file).name}.png`);
    tick();
    if (existsSync(target)) { written++; return; }
    const decoded = await pipeline.decode(await readFile(join(input, id, file)));
    let det = cache.get(key);
    if (!det) cache.set(key, (det = await detectSubject(pipeline, decoded)));
    const face = opts.policy === 'largest' ? det.faces[0] : subjectFace(det);
    if (!face) { skipped++; return; }
    const crop = pipeline.align(decoded.image, face);
    mkdirSync(join(output, id), { recursive: true });
    await sharp(crop.data, { raw: { width: crop.width, height: crop.height, channels: 3 } }).png().toFile(target);
    written++;
  });
  writeFileSync(join(output, 'ALIGNMENT.json'), JSON.stringify({
    detector: detector.version, model: model.card.id, alignment: model.card.alignment, policy: opts.policy,
    source: input, images: jobs.length, crops: written, no_face: skipped,
  }, null, 2) + '\n');
  console.error(`aligned ${written} of ${jobs.length} images (${skipped} without a usable face) into ${output}`);
  await rt.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
