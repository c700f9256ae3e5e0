// Reads and validates a model card (models/<id>.json) and checks it against its ONNX file.
import { createHash } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import type { Point } from '../pipeline/geometry.ts';

export interface Threshold {
  value: number;
  method: string;
}

export interface ModelCard {
  schema: 'irface.model-card/1';
  id: string;
  file: string;
  sha256: string;
  input: {
    name: string;
    layout: 'NCHW';
    color: 'RGB';
    height: number;
    width: number;
    normalization: { mean: [number, number, number]; std: [number, number, number] };
  };
  output: { name: string; dim: number; l2_normalized: boolean };
  alignment: { method: 'similarity-5pt'; points: string[]; size: [number, number]; template: [number, number][] };
  test_time_augmentation: string;
  similarity: { metric: 'cosine'; thresholds: Record<string, Threshold> };
  provenance: Record<string, unknown>;
  evaluation: Record<string, unknown>;
  flops_per_face?: number;
}

export interface LoadedModel {
  card: ModelCard;
  onnxPath: string;
  cardPath: string;
}

class CardError extends Error {}

function need(cond: unknown, path: string, what: string): asserts cond {
  if (!cond) throw new CardError(`model card field ${path}: expected ${what}`);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNumArray = (v: unknown, n: number) => Array.isArray(v) && v.length === n && v.every(isNum);

export function validateCard(raw: unknown): ModelCard {
  const c = raw as ModelCard;
  need(c && typeof c === 'object', '(root)', 'an object');
  need(c.schema === 'irface.model-card/1', 'schema', '"irface.model-card/1"');
  need(typeof c.id === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(c.id), 'id', 'a short id [A-Za-z0-9._-]');
  need(typeof c.file === 'string', 'file', 'the ONNX file name');
  need(typeof c.sha256 === 'string' && /^[0-9a-f]{64}$/.test(c.sha256), 'sha256', '64 hex digits');
  need(c.input && typeof c.input.name === 'string', 'input.name', 'a string');
  need(c.input.layout === 'NCHW', 'input.layout', '"NCHW"');
  need(c.input.color === 'RGB', 'input.color', '"RGB"');
  need(Number.isInteger(c.input.height) && c.input.height > 0, 'input.height', 'a positive integer');
  need(Number.isInteger(c.input.width) && c.input.width > 0, 'input.width', 'a positive integer');
  need(c.input.normalization && isNumArray(c.input.normalization.mean, 3), 'input.normalization.mean', '3 numbers');
  need(isNumArray(c.input.normalization.std, 3) && c.input.normalization.std.every((s) => s !== 0),
    'input.normalization.std', '3 non-zero numbers');
  need(c.output && typeof c.output.name === 'string', 'output.name', 'a string');
  need(Number.isInteger(c.output.dim) && c.output.dim > 0, 'output.dim', 'a positive integer');
  need(c.alignment && c.alignment.method === 'similarity-5pt', 'alignment.method', '"similarity-5pt"');
  need(Array.isArray(c.alignment.template) && c.alignment.template.length === 5 &&
    c.alignment.template.every((p) => isNumArray(p, 2)), 'alignment.template', '5 [x, y] pairs');
  need(isNumArray(c.alignment.size, 2), 'alignment.size', '[width, height]');
  need(c.alignment.size[0] === c.input.width && c.alignment.size[1] === c.input.height,
    'alignment.size', `to equal the input size ${c.input.width}x${c.input.height}`);
  need(c.similarity && c.similarity.metric === 'cosine', 'similarity.metric', '"cosine"');
  need(c.similarity.thresholds && typeof c.similarity.thresholds === 'object', 'similarity.thresholds', 'an object');
  for (const [k, t] of Object.entries(c.similarity.thresholds)) {
    need(t && isNum(t.value) && t.value >= -1 && t.value <= 1, `similarity.thresholds.${k}.value`, 'a cosine in [-1, 1]');
  }
  return c;
}

export function templatePoints(card: ModelCard): Point[] {
  return card.alignment.template.map(([x, y]) => ({ x, y }));
}

/** The default threshold of a card, or an error naming what is missing. */
export function defaultThreshold(card: ModelCard): Threshold {
  const t = card.similarity.thresholds.default;
  if (!t) throw new Error(`model card ${card.id} has no similarity.thresholds.default; run npm run eval:lfw -- --write-card`);
  return t;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Loads `<model>.onnx` + `<model>.json` (either path may be given) and verifies the checksum. */
export function loadModel(path: string): LoadedModel {
  const stem = path.replace(/\.(onnx|json)$/, '');
  const cardPath = `${stem}.json`;
  if (!existsSync(cardPath)) throw new Error(`model card not found: ${cardPath} (every .onnx needs its card beside it)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cardPath, 'utf8'));
  } catch (e) {
    throw new Error(`model card ${cardPath} is not valid JSON: ${(e as Error).message}`);
  }
  let card: ModelCard;
  try {
    card = validateCard(raw);
  } catch (e) {
    throw new Error(`${cardPath}: ${(e as Error).message}`);
  }
  const onnxPath = join(dirname(cardPath), basename(card.file));
  if (!existsSync(onnxPath)) throw new Error(`model file not found: ${onnxPath} (named by ${cardPath})`);
  const sum = sha256File(onnxPath);
  if (sum !== card.sha256) {
    throw new Error(`model file ${onnxPath} has sha256 ${sum} but its card says ${card.sha256}`);
  }
  return { card, onnxPath, cardPath };
}
