// Checks configuration parsing: defaults, valid overrides, and one ConfigError naming every bad variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { parseConfig, ConfigError, DEFAULT_MODEL, PROJECT_ROOT } from './config.ts';

test('defaults: loopback:8080, ./data resolved, cpu, the shipped model', () => {
  const c = parseConfig({});
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 8080);
  assert.equal(c.dataDir, resolve('data'));
  assert.equal(c.device, 'cpu');
  assert.equal(c.modelPath, DEFAULT_MODEL);
  assert.equal(c.modelPath, resolve(PROJECT_ROOT, 'models/dlib-resnet-port.onnx'));
  assert.ok(c.detectWorkers >= 1 && c.detectWorkers <= 2);
  assert.ok(c.embedThreads >= 1 && c.embedThreads <= 4);
  assert.equal(c.maxImageBytes, 10 * 1024 * 1024);
  assert.equal(c.maxRequestBytes, 40 * 1024 * 1024);
  assert.equal(c.maxImagesPerRequest, 16);
  assert.equal(c.detectMaxSide, 640);
  assert.equal(c.minDetectionScore, 0.5);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.detector, 'retinaface');
  assert.equal(c.orientation, 'auto');
  assert.equal(c.hnswEfSearch, 'auto');
  assert.equal(c.healthIntervalMs, 10_000);
  assert.equal(c.ortSpinning, false); // detector and embedder share the cores: spinning threads would steal them
});

test('each detector has its own default score; the old name onnx means the SSD port', () => {
  assert.equal(parseConfig({ IRFACE_DETECTOR: 'ssd-mobilenet' }).minDetectionScore, 0.3);
  assert.equal(parseConfig({ IRFACE_DETECTOR: 'faceapi' }).minDetectionScore, 0.3);
  assert.equal(parseConfig({ IRFACE_DETECTOR: 'onnx' }).detector, 'ssd-mobilenet');
  assert.equal(parseConfig({ IRFACE_DETECTOR: 'retinaface', IRFACE_MIN_DETECTION_SCORE: '0.7' }).minDetectionScore, 0.7);
});

test('empty strings fall back to the defaults', () => {
  const c = parseConfig({ IRFACE_PORT: '', IRFACE_DEVICE: '', IRFACE_MAX_PIXELS: '' });
  assert.equal(c.port, 8080);
  assert.equal(c.device, 'cpu');
  assert.equal(c.maxPixels, 40_000_000);
});

test('valid overrides are applied and paths resolved', () => {
  const c = parseConfig({
    IRFACE_HOST: '0.0.0.0',
    IRFACE_PORT: '0',
    IRFACE_DATA_DIR: 'some/dir',
    IRFACE_DEVICE: 'cuda',
    IRFACE_MODEL: 'models/other.onnx',
    IRFACE_DETECT_WORKERS: '3',
    IRFACE_EMBED_THREADS: '1',
    IRFACE_MAX_IMAGE_BYTES: '2048',
    IRFACE_MAX_REQUEST_BYTES: '4096',
    IRFACE_MAX_IMAGES_PER_REQUEST: '2',
    IRFACE_MAX_PIXELS: '1000',
    IRFACE_DETECT_MAX_SIDE: '320',
    IRFACE_MIN_DETECTION_SCORE: '0.75',
    IRFACE_MIN_FACE_SIZE: '40',
    IRFACE_LOG_LEVEL: 'silent',
    IRFACE_KEEP_CROPS: 'false', IRFACE_HEALTH_INTERVAL_MS: '2500', IRFACE_HNSW_EF_SEARCH: '300', IRFACE_ORT_SPINNING: 'true',
    IRFACE_DETECTOR: 'onnx', IRFACE_ORIENTATION: 'upright', IRFACE_DATABASE_URL: 'postgresql://irface:s3cret@db.example.com:5433/gallery',
  });
  assert.deepEqual(
    { ...c },
    {
      host: '0.0.0.0', port: 0, dataDir: resolve('some/dir'), device: 'cuda', modelPath: resolve('models/other.onnx'), detector: 'ssd-mobilenet', orientation: 'upright',
      detectWorkers: 3, embedThreads: 1, maxImageBytes: 2048, maxRequestBytes: 4096, maxImagesPerRequest: 2,
      maxPixels: 1000, detectMaxSide: 320, minDetectionScore: 0.75, minFaceSize: 40, logLevel: 'silent',
      keepCrops: false, batchMax: 32, batchWaitMs: 2, adminKey: null, corsOrigins: [], maxInFlight: 32, requestTimeoutMs: 60000, healthIntervalMs: 2500, hnswEfSearch: 300, ortSpinning: true,
      databaseUrl: 'postgresql://irface:s3cret@db.example.com:5433/gallery',
    },
  );
});

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail(`parseConfig accepted ${JSON.stringify(env)}`);
}

for (const [key, value] of [
  ['IRFACE_PORT', '70000'], ['IRFACE_PORT', 'http'], ['IRFACE_PORT', '80.5'], ['IRFACE_PORT', '-1'],
  ['IRFACE_DEVICE', 'gpu'], ['IRFACE_DEVICE', 'CPU'], ['IRFACE_DETECTOR', 'ssd'], ['IRFACE_ORIENTATION', 'rotate'],
  ['IRFACE_MAX_IMAGE_BYTES', '10'], ['IRFACE_MAX_PIXELS', '0'], ['IRFACE_MAX_IMAGES_PER_REQUEST', 'many'],
  ['IRFACE_DETECT_WORKERS', '0'], ['IRFACE_MIN_DETECTION_SCORE', '1.5'], ['IRFACE_MIN_DETECTION_SCORE', 'NaN'],
  ['IRFACE_LOG_LEVEL', 'verbose'], ['IRFACE_HOST', 'bad host/x'], ['IRFACE_KEEP_CROPS', 'yes'], ['IRFACE_CORS_ORIGINS', 'evil.com'], ['IRFACE_HEALTH_INTERVAL_MS', '5'], ['IRFACE_HNSW_EF_SEARCH', 'wide'], ['IRFACE_HNSW_EF_SEARCH', '0'], ['IRFACE_ORT_SPINNING', 'no'],
] as const) {
  test(`${key}=${JSON.stringify(value)} is refused, naming the variable and the value`, () => {
    const e = configError({ [key]: value });
    assert.ok(e.message.includes(`${key}=${JSON.stringify(value)} (expected`), e.message);
    assert.match(e.message, /expected/);
  });
}

test('a too short IRFACE_ADMIN_KEY is refused without echoing the secret', () => {
  const e = configError({ IRFACE_ADMIN_KEY: 'short-secret' });
  assert.match(e.message, /IRFACE_ADMIN_KEY \(expected at least 24 characters/);
  assert.ok(!e.message.includes('short-secret'), e.message);
});

test('IRFACE_DATABASE_URL must be a postgres URL and is never echoed (it may hold a password)', () => {
  for (const bad of ['mysql://u:topsecret@h/db', 'postgres:///nohost-topsecret', 'topsecret']) {
    const e = configError({ IRFACE_DATABASE_URL: bad });
    assert.match(e.message, /IRFACE_DATABASE_URL \(expected postgres:\/\/user/);
    assert.ok(!e.message.includes('topsecret'), e.message);
  }
  assert.equal(parseConfig({ IRFACE_DATABASE_URL: '' }).databaseUrl, null);
});

test('several bad variables produce ONE error listing each of them', () => {
  const e = configError({
    IRFACE_PORT: 'eighty',
    IRFACE_DEVICE: 'tpu',
    IRFACE_MAX_IMAGE_BYTES: '1',
    IRFACE_MAX_REQUEST_BYTES: '-5',
    IRFACE_MAX_PIXELS: '1e12',
    IRFACE_EMBED_THREADS: '2.5',
    IRFACE_HOST: 'ok-host', // valid: must not be listed
  });
  const lines = e.message.split('\n').slice(1).map((l) => l.trim());
  assert.equal(lines.length, 6, e.message);
  for (const key of ['IRFACE_PORT', 'IRFACE_DEVICE', 'IRFACE_MAX_IMAGE_BYTES', 'IRFACE_MAX_REQUEST_BYTES', 'IRFACE_MAX_PIXELS', 'IRFACE_EMBED_THREADS']) {
    assert.equal(lines.filter((l) => l.startsWith(`${key}=`)).length, 1, `${key} listed once in:\n${e.message}`);
  }
  assert.doesNotMatch(e.message, /IRFACE_HOST/);
  assert.match(e.message, /IRFACE_DEVICE="tpu" \(expected one of cpu, cuda\)/);
  assert.match(e.message, /IRFACE_PORT="eighty" \(expected an integer from 0 to 65535\)/);
});
