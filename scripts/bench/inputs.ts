// Benchmark inputs and set-up: the configuration, demo and LFW photos, 640x480 single-face photos made in memory.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { DEFAULT_MODEL, PROJECT_ROOT, parseConfig, type Config } from '../../server/config.ts';
import { encodeJpeg } from '../../server/adapters/sharp-decoder.ts';
import { warpSimilarity, type RgbImage } from '../../server/pipeline/warp.ts';
import type { Box } from '../../server/pipeline/types.ts';

export const DEMO_DIR = resolve(PROJECT_ROOT, 'node_modules/@vladmandic/face-api/demo');
export const LFW_IMAGES = join(process.env.IRFACE_LFW ?? resolve(PROJECT_ROOT, '../shared/datasets/lfw'), 'images');

/** A temporary directory removed when the process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `irface-bench-${prefix}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let model: { path: string; placeholderThreshold: boolean } | undefined;

/**
 * The shipped model. The server refuses a card without a default threshold (written by the LFW
 * calibration); until it has one, a temp copy with a placeholder threshold stands in. Thresholds do not
 * change any timing, and the report says when this happened.
 */
export function benchModel(): { path: string; placeholderThreshold: boolean } {
  if (model) return model;
  const cardPath = DEFAULT_MODEL.replace(/\.onnx$/, '.json');
  const card = JSON.parse(readFileSync(cardPath, 'utf8'));
  if (card.similarity?.thresholds?.default) return (model = { path: DEFAULT_MODEL, placeholderThreshold: false });
  const dir = tempDir('model');
  card.similarity.thresholds = { ...card.similarity.thresholds, default: { value: 0.9, method: 'benchmark placeholder' } };
  writeFileSync(join(dir, basename(cardPath)), JSON.stringify(card));
  copyFileSync(DEFAULT_MODEL, join(dir, basename(DEFAULT_MODEL)));
  return (model = { path: join(dir, basename(DEFAULT_MODEL)), placeholderThreshold: true });
}

/**
 * The IRFACE_* environment of every benchmark run: the defaults, except the named overrides, a quiet log,
 * an ephemeral port and the model above. The caller's own IRFACE_* variables are ignored on purpose.
 */
export function benchEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return { IRFACE_MODEL: benchModel().path, IRFACE_LOG_LEVEL: 'silent', IRFACE_HOST: '127.0.0.1', IRFACE_PORT: '0', ...overrides };
}

export const benchConfig = (overrides: Record<string, string> = {}): Config => parseConfig(benchEnv(overrides));

/** process.env without IRFACE_* variables, plus the benchmark's own: for child processes. */
export function childEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IRFACE_')));
  return { ...base, ...benchEnv(overrides) };
}

export interface Photo {
  name: string;
  bytes: Buffer;
}

/** face-api's demo photos sample1..6.jpg (shipped in its npm package). */
export function demoPhotos(): Photo[] {
  return [1, 2, 3, 4, 5, 6].map((n) => ({ name: `demo/sample${n}.jpg`, bytes: readFileSync(join(DEMO_DIR, `sample${n}.jpg`)) }));
}

export const lfwAvailable = (): boolean => existsSync(LFW_IMAGES);

export interface LfwPerson {
  name: string;
  files: string[]; // absolute paths, sorted
}

/**
 * `count` people spread evenly over LFW's alphabetical list (not the first letters only), among those with
 * at least minImages photos; each person's photos capped at maxImages. Empty when LFW is absent.
 */
export function lfwPeople(count: number, minImages = 1, maxImages = Infinity): LfwPerson[] {
  if (!lfwAvailable()) return [];
  const eligible = readdirSync(LFW_IMAGES).sort().flatMap((name) => {
    const files = readdirSync(join(LFW_IMAGES, name)).filter((f) => f.endsWith('.jpg')).sort();
    return files.length >= minImages ? [{ name, files: files.slice(0, maxImages).map((f) => join(LFW_IMAGES, name, f)) }] : [];
  });
  const step = Math.max(1, eligible.length / count);
  const out: LfwPerson[] = [];
  for (let i = 0; out.length < count && Math.floor(i) < eligible.length; i += step) out.push(eligible[Math.floor(i)]);
  return out;
}

/** The first photo of `count` evenly spread LFW people (250x250 each). */
export function lfwPhotos(count: number): Photo[] {
  return lfwPeople(count).map((p) => ({ name: `lfw/${basename(p.files[0])}`, bytes: readFileSync(p.files[0]) }));
}

export const PORTRAIT = { width: 640, height: 480 };

/**
 * A 640x480 JPEG of the region around one face: 4:3, about 2.5 face widths wide (less when the image is
 * smaller), centred on the face, clamped to the image and scaled (up or down) to 640x480.
 */
export async function portraitJpeg(image: RgbImage, face: Box): Promise<Buffer> {
  const aspect = PORTRAIT.width / PORTRAIT.height;
  const w = Math.min(image.width, image.height * aspect, Math.max(face.width * 2.5, 64));
  const h = w / aspect;
  const cx = face.x + face.width / 2, cy = face.y + face.height / 2;
  const x0 = Math.min(Math.max(0, cx - w / 2), image.width - w);
  const y0 = Math.min(Math.max(0, cy - h / 2), image.height - h);
  const s = PORTRAIT.width / w;
  const crop = warpSimilarity(image, { a: s, b: 0, tx: -x0 * s, ty: -y0 * s }, PORTRAIT.width, PORTRAIT.height);
  return encodeJpeg(crop, 90);
}

/** Versions of installed packages, read from their package.json (some packages do not export it). */
export function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', name, 'package.json'), 'utf8')).version as string;
  } catch {
    return 'not installed';
  }
}
