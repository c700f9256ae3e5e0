// Parses and validates the server configuration from environment variables, once, at start-up.
import { availableParallelism } from 'node:os';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_MODEL = resolve(PROJECT_ROOT, 'models/dlib-resnet-port.onnx');

export type Device = 'cpu' | 'cuda';
export type DetectorKind = 'retinaface' | 'ssd-mobilenet' | 'faceapi';
export type Orientation = 'auto' | 'upright';

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  device: Device;
  modelPath: string;
  /**
   * Face detector: RetinaFace MobileNet-0.25 (5 landmarks; models/detector-retinaface-mnet025.onnx), face-api's SSD
   * and 68-landmark nets ported to ONNX (ssd-mobilenet), or face-api itself in wasm workers (the reference).
   */
  detector: DetectorKind;
  /** 'auto': faces turned by any angle are found with their true orientation (RetinaFace); 'upright' trusts the photo. */
  orientation: Orientation;
  /** Threads running face detection: face-api workers (each its own wasm runtime), or the ONNX detector's intra-op threads. */
  detectWorkers: number;
  /** onnxruntime intra-op threads for the embedder. */
  embedThreads: number;
  /** Whether onnxruntime's idle threads spin-wait (lower latency alone, but they steal cores from the other sessions). */
  ortSpinning: boolean;
  maxImageBytes: number;
  maxRequestBytes: number;
  maxImagesPerRequest: number;
  maxPixels: number;
  /** Images are downscaled so their longer side is at most this before detection. */
  detectMaxSide: number;
  minDetectionScore: number;
  /** Faces whose box is smaller than this many pixels (original image) are ignored. */
  minFaceSize: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
  /** Micro-batching: most faces per model run, and how long a face may wait for others (ms). */
  batchMax: number;
  batchWaitMs: number;
  /** Seeds an admin API key chosen by the operator (automated set-ups); never logged. */
  adminKey: string | null;
  /** Origins allowed to call the API from a browser (CORS); none by default. */
  corsOrigins: string[];
  /** Image requests processed at once; more get 429 with Retry-After. */
  maxInFlight: number;
  /** A request that takes longer is answered 408 by the HTTP server. */
  requestTimeoutMs: number;
  /** The health self-test (re-embedding a stored face) runs in the background this often; /healthz reports its latest result. */
  healthIntervalMs: number;
  /** HNSW query-time beam: 'auto' grows it with the gallery (64 up to 100k centers, 128 at 1M), or a fixed number. */
  hnswEfSearch: number | 'auto';
  /** Keep each enrolled face's aligned crop (JPEG) so `irface reindex` can re-embed it with a new model. */
  keepCrops: boolean;
  /** PostgreSQL gallery shared by several replicas (postgres://user:pass@host:port/db); null: SQLite in dataDir. */
  databaseUrl: string | null;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function int(env: Env, key: string, def: number, min: number, max: number, bad: string[]): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    bad.push(`${key}=${JSON.stringify(raw)} (expected an integer from ${min} to ${max})`);
    return def;
  }
  return v;
}

function num(env: Env, key: string, def: number, min: number, max: number, bad: string[]): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) {
    bad.push(`${key}=${JSON.stringify(raw)} (expected a number from ${min} to ${max})`);
    return def;
  }
  return v;
}

function oneOf<T extends string>(env: Env, key: string, def: T, choices: readonly T[], bad: string[]): T {
  const raw = env[key];
  if (raw === undefined || raw === '') return def;
  if (!(choices as readonly string[]).includes(raw)) {
    bad.push(`${key}=${JSON.stringify(raw)} (expected one of ${choices.join(', ')})`);
    return def;
  }
  return raw as T;
}

function adminKey(env: Env, bad: string[]): string | null {
  const raw = env.IRFACE_ADMIN_KEY;
  if (raw === undefined || raw === '') return null;
  if (raw.length < 24 || /\s/.test(raw)) {
    bad.push('IRFACE_ADMIN_KEY (expected at least 24 characters without spaces; the value is not shown)');
    return null;
  }
  return raw;
}

function origins(env: Env, bad: string[]): string[] {
  const raw = env.IRFACE_CORS_ORIGINS;
  if (raw === undefined || raw.trim() === '') return [];
  const list = raw.split(',').map((o) => o.trim()).filter(Boolean);
  for (const o of list) {
    if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o)) {
      bad.push(`IRFACE_CORS_ORIGINS=${JSON.stringify(raw)} (expected comma-separated origins like https://host[:port]; bad entry ${JSON.stringify(o)})`);
    }
  }
  return list;
}

function efSearch(env: Env, bad: string[]): number | 'auto' {
  const raw = env.IRFACE_HNSW_EF_SEARCH;
  if (raw === undefined || raw === '' || raw === 'auto') return 'auto';
  const v = Number(raw);
  if (Number.isInteger(v) && v >= 1 && v <= 4096) return v;
  bad.push(`IRFACE_HNSW_EF_SEARCH=${JSON.stringify(raw)} (expected auto or an integer from 1 to 4096)`);
  return 'auto';
}

/** IRFACE_DETECTOR; 'onnx', its name before RetinaFace came, still means the SSD port. */
function detectorKind(env: Env, bad: string[]): DetectorKind {
  const kind = oneOf(env, 'IRFACE_DETECTOR', 'retinaface', ['retinaface', 'ssd-mobilenet', 'faceapi', 'onnx'] as const, bad);
  return kind === 'onnx' ? 'ssd-mobilenet' : kind;
}

function databaseUrl(env: Env, bad: string[]): string | null {
  const raw = env.IRFACE_DATABASE_URL;
  if (raw === undefined || raw === '') return null;
  let ok = false;
  try {
    const u = new URL(raw);
    ok = (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && (u.hostname !== '' || u.searchParams.has('host'));
  } catch { /* not a URL */ }
  // The value may hold a password: never echo it.
  if (!ok) bad.push('IRFACE_DATABASE_URL (expected postgres://user[:password]@host[:port]/database; the value is not shown)');
  return ok ? raw : null;
}

/** Builds the configuration; throws ConfigError listing every invalid variable at once. */
export function parseConfig(env: Env = process.env): Config {
  const bad: string[] = [];
  const cpus = availableParallelism();
  const host = env.IRFACE_HOST || '127.0.0.1';
  if (!/^[A-Za-z0-9.:_-]+$/.test(host)) bad.push(`IRFACE_HOST=${JSON.stringify(host)} (expected a host name or IP address)`);
  const config: Config = {
    host,
    port: int(env, 'IRFACE_PORT', 8080, 0, 65535, bad),
    dataDir: resolve(env.IRFACE_DATA_DIR || 'data'),
    device: oneOf(env, 'IRFACE_DEVICE', 'cpu', ['cpu', 'cuda'] as const, bad),
    modelPath: resolve(env.IRFACE_MODEL || DEFAULT_MODEL),
    detector: detectorKind(env, bad),
    orientation: oneOf(env, 'IRFACE_ORIENTATION', 'auto', ['auto', 'upright'] as const, bad),
    detectWorkers: int(env, 'IRFACE_DETECT_WORKERS', Math.max(1, Math.min(2, cpus)), 1, 64, bad),
    embedThreads: int(env, 'IRFACE_EMBED_THREADS', Math.max(1, Math.min(4, cpus)), 1, 64, bad),
    ortSpinning: oneOf(env, 'IRFACE_ORT_SPINNING', 'false', ['true', 'false'] as const, bad) === 'true',
    maxImageBytes: int(env, 'IRFACE_MAX_IMAGE_BYTES', 10 * 1024 * 1024, 1024, 200 * 1024 * 1024, bad),
    maxRequestBytes: int(env, 'IRFACE_MAX_REQUEST_BYTES', 40 * 1024 * 1024, 1024, 1024 * 1024 * 1024, bad),
    maxImagesPerRequest: int(env, 'IRFACE_MAX_IMAGES_PER_REQUEST', 16, 1, 1000, bad),
    maxPixels: int(env, 'IRFACE_MAX_PIXELS', 40_000_000, 1, 500_000_000, bad),
    detectMaxSide: int(env, 'IRFACE_DETECT_MAX_SIDE', 640, 64, 4096, bad),
    minDetectionScore: 0, // set below from the detector's default

    minFaceSize: int(env, 'IRFACE_MIN_FACE_SIZE', 20, 1, 10000, bad),
    batchMax: int(env, 'IRFACE_BATCH_MAX', 32, 1, 1024, bad),
    batchWaitMs: int(env, 'IRFACE_BATCH_WAIT_MS', 2, 0, 1000, bad),
    adminKey: adminKey(env, bad),
    corsOrigins: origins(env, bad),
    maxInFlight: int(env, 'IRFACE_MAX_IN_FLIGHT', 32, 1, 10000, bad),
    requestTimeoutMs: int(env, 'IRFACE_REQUEST_TIMEOUT_MS', 60000, 1000, 3600000, bad),
    healthIntervalMs: int(env, 'IRFACE_HEALTH_INTERVAL_MS', 10_000, 100, 3_600_000, bad),
    hnswEfSearch: efSearch(env, bad),
    keepCrops: oneOf(env, 'IRFACE_KEEP_CROPS', 'true', ['true', 'false'] as const, bad) === 'true',
    databaseUrl: databaseUrl(env, bad),
    logLevel: oneOf(env, 'IRFACE_LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] as const, bad),
  };
  // RetinaFace scores clear faces >= 0.97 and keeps no spurious box at 0.5 on face-api's demo photos; the SSD
  // path was calibrated at 0.3 (README, "Detection").
  config.minDetectionScore = num(env, 'IRFACE_MIN_DETECTION_SCORE', config.detector === 'retinaface' ? 0.5 : 0.3, 0, 1, bad);
  if (bad.length > 0) throw new ConfigError(`invalid configuration:\n  ${bad.join('\n  ')}`);
  return config;
}
