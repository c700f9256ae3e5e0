// Reads and validates the detector and landmark cards (schema irface.detector-card/1) and checks their ONNX files.
import { readFileSync, existsSync } from 'node:fs';
import { join, basename } from 'node:path';
import { sha256File } from './card.ts';

type Triple = [number, number, number];

interface CardInput {
  name: string;
  layout: 'NCHW';
  color: 'RGB';
  height: number;
  width: number;
  normalization: { mean: Triple; std: Triple };
}

/** RetinaFace takes any size (dynamic H and W) in BGR order with a per-channel mean subtracted. */
interface DynamicCardInput {
  name: string;
  layout: 'NCHW';
  color: 'BGR' | 'RGB';
  height: null;
  width: null;
  normalization: { mean: Triple; std: [1, 1, 1] };
}

interface CardBase<I = CardInput> {
  schema: 'irface.detector-card/1';
  id: string;
  file: string;
  sha256: string;
  input: I;
  provenance: Record<string, unknown>;
  parity: Record<string, unknown>;
}

export interface SsdDetectorCard extends CardBase {
  task: 'face-detection';
  outputs: {
    boxes: { name: string; shape: [string, number, 4]; order: 'ymin,xmin,ymax,xmax' };
    scores: { name: string; shape: [string, number] };
  };
  anchors: { count: number };
  postprocessing: { iou_threshold: number; max_results: number };
}

export interface LandmarkCard extends CardBase {
  task: 'face-landmarks-68';
  outputs: { landmarks: { name: string; shape: [string, number]; order: string } };
}

/** The 5 landmark names, as seen in the image (left = smaller x on an upright face). */
export const FIVE_POINTS = ['left_eye', 'right_eye', 'nose_tip', 'mouth_left', 'mouth_right'] as const;
export type FivePointName = typeof FIVE_POINTS[number];

export interface RetinaFaceCard extends CardBase<DynamicCardInput> {
  task: 'face-detection-5pt';
  outputs: {
    boxes: { name: string; shape: [string, string, 4] };
    scores: { name: string; shape: [string, string, 2] };
    landmarks: { name: string; shape: [string, string, 10]; points: FivePointName[] };
  };
  priors: { steps: number[]; min_sizes: number[][]; variances: [number, number] };
  postprocessing: { iou_threshold: number; max_results: number; confident_score: number };
}

export interface LoadedCard<C> {
  card: C;
  onnxPath: string;
  cardPath: string;
}

/** The shipped detectors, looked up by name in the models directory. */
export const RETINAFACE_FILE = 'detector-retinaface-mnet025.onnx';
export const DETECTOR_FILE = 'detector-ssd-mobilenetv1.onnx';
export const LANDMARKS_FILE = 'landmarks-68.onnx';

class CardError extends Error {}

function need(cond: unknown, path: string, what: string): asserts cond {
  if (!cond) throw new CardError(`detector card field ${path}: expected ${what}`);
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isPosInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTriple = (v: unknown): v is Triple => Array.isArray(v) && v.length === 3 && v.every(isNum);

function validateCommon(c: CardBase<unknown>, task: string): void {
  need(isObj(c), '(root)', 'an object');
  need(c.schema === 'irface.detector-card/1', 'schema', '"irface.detector-card/1"');
  need(typeof c.id === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(c.id), 'id', 'a short id [A-Za-z0-9._-]');
  need((c as { task?: unknown }).task === task, 'task', `"${task}"`);
  need(typeof c.file === 'string' && c.file.endsWith('.onnx'), 'file', 'the ONNX file name');
  need(typeof c.sha256 === 'string' && /^[0-9a-f]{64}$/.test(c.sha256), 'sha256', '64 hex digits');
  need(isObj(c.provenance), 'provenance', 'an object');
  need(isObj(c.parity), 'parity', 'an object');
}

function validateBase(c: CardBase, task: string): void {
  validateCommon(c, task);
  const i = c.input;
  need(isObj(i) && typeof i.name === 'string' && i.name !== '', 'input.name', 'a string');
  need(i.layout === 'NCHW', 'input.layout', '"NCHW"');
  need(i.color === 'RGB', 'input.color', '"RGB"');
  // Both nets take a square input: the letterbox and the landmark crop are squares by construction.
  need(isPosInt(i.height) && isPosInt(i.width) && i.height === i.width, 'input.height/width', 'equal positive integers');
  need(isObj(i.normalization) && isTriple(i.normalization.mean), 'input.normalization.mean', '3 numbers');
  need(isTriple(i.normalization.std) && i.normalization.std.every((s) => s !== 0), 'input.normalization.std', '3 non-zero numbers');
}

const outName = (o: unknown): o is { name: string } => isObj(o) && typeof o.name === 'string' && o.name !== '';

export function validateSsdCard(raw: unknown): SsdDetectorCard {
  const c = raw as SsdDetectorCard;
  validateBase(c, 'face-detection');
  need(isObj(c.outputs) && outName(c.outputs.boxes), 'outputs.boxes.name', 'a string');
  need(outName(c.outputs.scores), 'outputs.scores.name', 'a string');
  need(isObj(c.anchors) && isPosInt(c.anchors.count), 'anchors.count', 'a positive integer');
  const n = c.anchors.count;
  const { boxes, scores } = c.outputs;
  need(Array.isArray(boxes.shape) && boxes.shape.length === 3 && boxes.shape[1] === n && boxes.shape[2] === 4,
    'outputs.boxes.shape', `[batch, ${n}, 4] (anchors.count = ${n})`);
  // The adapter reads the corners in this order; a different order needs different code, not a guess.
  need(boxes.order === 'ymin,xmin,ymax,xmax', 'outputs.boxes.order', '"ymin,xmin,ymax,xmax"');
  need(Array.isArray(scores.shape) && scores.shape.length === 2 && scores.shape[1] === n,
    'outputs.scores.shape', `[batch, ${n}]`);
  const p = c.postprocessing;
  need(isObj(p) && isNum(p.iou_threshold) && p.iou_threshold > 0 && p.iou_threshold <= 1,
    'postprocessing.iou_threshold', 'a number in (0, 1]');
  need(isPosInt(p.max_results), 'postprocessing.max_results', 'a positive integer');
  return c;
}

export function validateLandmarkCard(raw: unknown): LandmarkCard {
  const c = raw as LandmarkCard;
  validateBase(c, 'face-landmarks-68');
  need(isObj(c.outputs) && outName(c.outputs.landmarks), 'outputs.landmarks.name', 'a string');
  const l = c.outputs.landmarks;
  need(Array.isArray(l.shape) && l.shape.length === 2 && l.shape[1] === 136, 'outputs.landmarks.shape', '[batch, 136]');
  need(typeof l.order === 'string' && l.order.startsWith('x0,y0,x1,y1'), 'outputs.landmarks.order',
    'interleaved "x0,y0,x1,y1,..."');
  return c;
}

export function validateRetinaFaceCard(raw: unknown): RetinaFaceCard {
  const c = raw as RetinaFaceCard;
  validateCommon(c, 'face-detection-5pt');
  const i = c.input;
  need(isObj(i) && typeof i.name === 'string' && i.name !== '', 'input.name', 'a string');
  need(i.layout === 'NCHW', 'input.layout', '"NCHW"');
  need(i.color === 'BGR' || i.color === 'RGB', 'input.color', '"BGR" or "RGB"');
  need(i.height === null && i.width === null, 'input.height/width', 'null (any size)');
  need(isObj(i.normalization) && isTriple(i.normalization.mean), 'input.normalization.mean', '3 numbers');
  // The adapter subtracts the mean and does not scale; another std needs different code, not a guess.
  need(isTriple(i.normalization.std) && i.normalization.std.every((s) => s === 1), 'input.normalization.std', '[1, 1, 1]');
  need(isObj(c.outputs) && outName(c.outputs.boxes) && outName(c.outputs.scores) && outName(c.outputs.landmarks),
    'outputs.boxes/scores/landmarks.name', 'strings');
  const pts = c.outputs.landmarks.points;
  need(Array.isArray(pts) && pts.length === 5 && FIVE_POINTS.every((n) => pts.includes(n)), 'outputs.landmarks.points',
    `the 5 names ${FIVE_POINTS.join(', ')} in output order`);
  const p = c.priors;
  need(isObj(p) && Array.isArray(p.steps) && p.steps.length > 0 && p.steps.every(isPosInt), 'priors.steps', 'positive integers');
  need(Array.isArray(p.min_sizes) && p.min_sizes.length === p.steps.length &&
    p.min_sizes.every((l) => Array.isArray(l) && l.length > 0 && l.every((v) => isNum(v) && v > 0)), 'priors.min_sizes', 'one list of sizes per step');
  need(Array.isArray(p.variances) && p.variances.length === 2 && p.variances.every((v) => isNum(v) && v > 0), 'priors.variances', '[centre, size]');
  const q = c.postprocessing;
  need(isObj(q) && isNum(q.iou_threshold) && q.iou_threshold > 0 && q.iou_threshold <= 1, 'postprocessing.iou_threshold', 'a number in (0, 1]');
  need(isPosInt(q.max_results), 'postprocessing.max_results', 'a positive integer');
  need(isNum(q.confident_score) && q.confident_score > 0 && q.confident_score < 1, 'postprocessing.confident_score', 'a number in (0, 1)');
  return c;
}

/** Loads the card beside `onnxPath`, validates the card and verifies the checksum. */
export function loadDetectorCard<C extends CardBase<unknown>>(onnxPath: string, validate: (raw: unknown) => C): LoadedCard<C> {
  const cardPath = onnxPath.replace(/\.onnx$/, '.json');
  if (!existsSync(cardPath)) throw new Error(`detector card not found: ${cardPath} (every .onnx needs its card beside it)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cardPath, 'utf8'));
  } catch (e) {
    throw new Error(`detector card ${cardPath} is not valid JSON: ${(e as Error).message}`);
  }
  let card: C;
  try {
    card = validate(raw);
  } catch (e) {
    throw new Error(`${cardPath}: ${(e as Error).message}`);
  }
  if (card.file !== basename(onnxPath)) throw new Error(`${cardPath}: field file is "${card.file}", expected "${basename(onnxPath)}"`);
  if (!existsSync(onnxPath)) throw new Error(`detector model not found: ${onnxPath} (named by ${cardPath})`);
  const sum = sha256File(onnxPath);
  if (sum !== card.sha256) throw new Error(`detector model ${onnxPath} has sha256 ${sum} but its card says ${card.sha256}`);
  return { card, onnxPath, cardPath };
}

export interface DetectorModels {
  detector: LoadedCard<SsdDetectorCard>;
  landmarks: LoadedCard<LandmarkCard>;
}

/** The RetinaFace detector from a models directory (PROJECT_ROOT/models in production). */
export function loadRetinaFaceModel(modelsDir: string): LoadedCard<RetinaFaceCard> {
  return loadDetectorCard(join(modelsDir, RETINAFACE_FILE), validateRetinaFaceCard);
}

/** The SSD detector and the landmark net from a models directory (PROJECT_ROOT/models in production). */
export function loadDetectorModels(modelsDir: string): DetectorModels {
  return {
    detector: loadDetectorCard(join(modelsDir, DETECTOR_FILE), validateSsdCard),
    landmarks: loadDetectorCard(join(modelsDir, LANDMARKS_FILE), validateLandmarkCard),
  };
}
