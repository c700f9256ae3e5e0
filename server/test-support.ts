// Shared fixtures for the server tests: the model to load, a quiet test config and the photo locations.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfig, PROJECT_ROOT, type Config } from './config.ts';

export const SHIPPED_MODEL = resolve(PROJECT_ROOT, 'models/dlib-resnet-port.onnx');
export const REFERENCE_FILE = resolve(PROJECT_ROOT, 'models/dlib-resnet-port.reference.json');
export const DEMO_DIR = resolve(PROJECT_ROOT, 'node_modules/@vladmandic/face-api/demo');
// LFW sits in ../shared beside the checkout (CI lays a copy there too); IRFACE_LFW overrides.
export const LFW_DIR = join(process.env.IRFACE_LFW ?? resolve(PROJECT_ROOT, '../shared/datasets/lfw'), 'images');
export const LFW_MISSING = !existsSync(LFW_DIR);

export const demoPhoto = (n: number): string => join(DEMO_DIR, `sample${n}.jpg`);
export const lfwPhoto = (name: string, n: number): string => join(LFW_DIR, name, `${name}_${String(n).padStart(4, '0')}.jpg`);

/**
 * TEMPORARY until the LFW calibration writes `similarity.thresholds.default` into the shipped card:
 * when the card has no default threshold, a copy of the model with a placeholder threshold is made in
 * a temp dir. Once the shipped card has one this returns the shipped model unchanged (delete then).
 */
export function testModelPath(): string {
  const cardPath = SHIPPED_MODEL.replace(/\.onnx$/, '.json');
  const card = JSON.parse(readFileSync(cardPath, 'utf8'));
  if (card.similarity?.thresholds?.default) return SHIPPED_MODEL;
  const dir = mkdtempSync(join(tmpdir(), 'irface-model-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  card.similarity.thresholds.default = { value: 0.91, method: 'test' };
  writeFileSync(join(dir, 'dlib-resnet-port.json'), JSON.stringify(card));
  copyFileSync(SHIPPED_MODEL, join(dir, 'dlib-resnet-port.onnx'));
  return join(dir, 'dlib-resnet-port.onnx');
}

/** A validated config for in-process test servers: quiet, 2 detection workers, the test model. */
export function testConfig(env: Record<string, string> = {}): Config {
  return parseConfig({
    IRFACE_MODEL: testModelPath(),
    IRFACE_DATA_DIR: join(tmpdir(), 'irface-test-data'),
    IRFACE_DETECT_WORKERS: '2',
    IRFACE_EMBED_THREADS: '2',
    IRFACE_LOG_LEVEL: 'silent',
    ...env,
  });
}
