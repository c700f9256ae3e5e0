// Hostile input corpus: malformed, disguised, oversized and tricky requests, each answered with its specific code;
// afterwards the server still answers /healthz and a normal detect, memory stayed bounded and nothing was polluted.
//
// Table-driven: one row per case {name, send, status, code}. Some rows overlap api.test.ts / gallery-api.test.ts on
// purpose (empty file, truncated JPEG, invalid base64, a taken external_id) so the corpus stands on its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { testConfig, testServer, assertError, demoPhoto, TEST_ADMIN_KEY, type Reply } from '../test-support.ts';

const MAX_IMAGE_BYTES = 2 * 1024 * 1024;
const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
const MAX_IMAGES = 8;

const server = testServer(testConfig({
  IRFACE_MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES),
  IRFACE_MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
  IRFACE_MAX_IMAGES_PER_REQUEST: String(MAX_IMAGES),
}));
const { call, json } = server;

// ---- building hostile bytes ----

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A grey PNG whose header declares width x height (1 bit per pixel), with `idat` as its compressed data. */
function png(width: number, height: number, idat: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A real 30000x30000 PNG of zeros (900 M pixels) compressed to ~110 KB, streamed so the test never holds the raw rows. */
async function pngBomb(): Promise<Buffer> {
  const side = 30000;
  const rows = Buffer.alloc((1 + side / 8) * 100); // 100 rows: filter byte + 3750 bytes of 1-bit pixels each
  const deflate = zlib.createDeflate({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  for (let i = 0; i < side / 100; i++) if (!deflate.write(rows)) await once(deflate, 'drain');
  deflate.end();
  await once(deflate, 'end');
  return png(side, side, Buffer.concat(out));
}

/** The JPEG with its SOF header rewritten to declare width x height (the scan data is left as it is). */
function jpegDeclaring(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9;) {
    if (out[i] !== 0xff) throw new Error('not at a JPEG marker');
    const marker = out[i + 1];
    if (marker >= 0xc0 && marker <= 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + out.readUInt16BE(i + 2);
  }
  throw new Error('no SOF marker');
}

/** A GIF89a whose screen and only frame declare width x height, with the pixel data of a single pixel. */
function gifDeclaring(width: number, height: number): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt16LE(width, 0);
  size.writeUInt16LE(height, 2);
  const screen = Buffer.concat([size, Buffer.from([0x80, 0, 0])]); // global colour table of 2 entries
  const frame = Buffer.concat([Buffer.from([0x2c, 0, 0, 0, 0]), size, Buffer.from([0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b])]);
  return Buffer.concat([Buffer.from('GIF89a', 'latin1'), screen, Buffer.from([0, 0, 0, 255, 255, 255]), frame]);
}

/** One multipart body, built by hand so that field names, file names and content types can be anything. */
function multipart(parts: { field: string; filename?: string; type?: string; data: Buffer | string }[], boundary = 'hostileBoundary7'): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disp = `form-data; name="${p.field}"${p.filename === undefined ? '' : `; filename="${p.filename}"`}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disp}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`));
    chunks.push(Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** Bytes sent over a raw socket (for lies HTTP clients refuse to tell); the first response's status and JSON body. */
async function raw(request: string | Buffer, opts: { endAfterWrite?: boolean } = {}): Promise<Reply> {
  const url = new URL(server.base);
  const socket = connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(request);
  if (opts.endAfterWrite) socket.end();
  const timer = setTimeout(() => socket.destroy(), 10_000);
  await Promise.race([once(socket, 'close'), once(socket, 'end')]).catch(() => undefined);
  clearTimeout(timer);
  socket.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const bodyText = text.split('\r\n\r\n').slice(1).join('\r\n\r\n');
  let body: any;
  try { body = JSON.parse(bodyText); } catch { body = undefined; }
  return { status, body, text: bodyText };
}

const AUTH = `Authorization: Bearer ${TEST_ADMIN_KEY}\r\n`;
const rawPost = (path: string, headers: string, body: string | Buffer = '') =>
  Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${AUTH}${headers}\r\n`), Buffer.from(body)]);

// ---- fixtures, built once ----

interface Fixtures {
  face: Buffer; // JPEG, 640x427, faces found
  bomb: Buffer;
  tinyPng: Buffer;
  onePixel: Buffer;
  cmyk: Buffer;
  png16: Buffer;
  grey: Buffer;
  greyAlpha: Buffer;
  gifFaceFirst: Buffer;
  gifFaceSecond: Buffer;
  tiff: Buffer;
  corruptCrc: Buffer;
  corruptIdat: Buffer;
  existingId: string;
}

let fx: Fixtures;
let rssBefore = 0;

before(async () => {
  await server.start();
  const face = await sharp(readFileSync(demoPhoto(1))).resize(640).jpeg({ quality: 90 }).toBuffer();
  const { width, height } = await sharp(face).metadata() as { width: number; height: number };
  const blank = await sharp({ create: { width, height, channels: 3, background: '#777777' } }).png().toBuffer();
  const animated = (frames: Buffer[]) => sharp(frames, { join: { animated: true } }).gif().toBuffer();
  const tinyPng = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer();
  // A PNG with one byte of its compressed data flipped: the chunk CRC no longer matches.
  const corruptCrc = Buffer.from(tinyPng);
  const idat = corruptCrc.indexOf('IDAT', 0, 'latin1');
  corruptCrc[idat + 6] ^= 0xff;
  const created = await json('POST', '/v1/identities', { name: 'hostile target', external_id: 'taken-ext' });
  assert.equal(created.status, 201, created.text);
  fx = {
    face,
    bomb: await pngBomb(),
    tinyPng,
    onePixel: await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000000' } }).png().toBuffer(),
    cmyk: await sharp(face).toColourspace('cmyk').jpeg().toBuffer(),
    png16: await sharp(face).toColourspace('rgb16').png().toBuffer(),
    grey: await sharp(face).greyscale().jpeg().toBuffer(),
    greyAlpha: await sharp(face).greyscale().ensureAlpha(0.5).png().toBuffer(),
    gifFaceFirst: await animated([face, blank]),
    gifFaceSecond: await animated([blank, face]),
    tiff: await sharp(face).tiff().toBuffer(),
    corruptCrc,
    corruptIdat: png(64, 64, Buffer.from('this is not a zlib stream at all, just text')),
    existingId: created.body.id,
  };
  // Warm up (detector workers, ONNX arenas, sharp) so the bound below measures the corpus, not the first requests.
  assert.equal((await detect(face)).status, 200);
  assert.equal((await postParts('/v1/verify', [file(face, 'image_a'), file(face, 'image_b')])).status, 200);
  global.gc?.();
  rssBefore = process.memoryUsage().rss;
});
after(() => server.close());

// ---- the corpus ----

const file = (data: Buffer | string, field = 'image', filename = 'photo.jpg', type = 'image/jpeg') => ({ field, filename, type, data });
/** POSTs a hand-built multipart body. */
const postParts = (path: string, parts: Parameters<typeof multipart>[0], boundary?: string) =>
  call(path, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary ?? 'hostileBoundary7'}` }, body: new Uint8Array(multipart(parts, boundary)) });
const detect = (data: Buffer | string, query = '') => postParts(`/v1/detect${query}`, [file(data)]);
const detectB64 = (image: unknown) => json('POST', '/v1/detect', { image });
const UNKNOWN = '00000000-0000-4000-8000-000000000000';
const deep = (n: number, open: string, close: string, inner: string) => open.repeat(n) + inner + close.repeat(n);

interface Case {
  name: string;
  send: () => Promise<Reply>;
  status: number;
  code?: string; // the API error code; absent for successes
  check?: (r: Reply) => void | Promise<void>;
}

const faces = (min: number, max = Infinity) => (r: Reply) => {
  assert.ok(r.body.faces.length >= min && r.body.faces.length <= max, `${r.body.faces.length} faces: ${r.text.slice(0, 200)}`);
};

const CASES: Case[] = [
  // bodies and content types
  { name: 'empty JSON body', send: () => call('/v1/detect', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' }), status: 400, code: 'invalid_request' },
  { name: 'no body and no content type', send: () => call('/v1/detect', { method: 'POST' }), status: 400, code: 'invalid_request' },
  { name: 'empty JSON body on create identity', send: () => call('/v1/identities', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' }), status: 400, code: 'invalid_request' },
  { name: 'text/plain body', send: () => call('/v1/detect', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'image=abc' }), status: 415, code: 'unsupported_media_type' },
  { name: 'application/xml body', send: () => call('/v1/identities', { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<name>x</name>' }), status: 415, code: 'unsupported_media_type' },
  { name: 'url-encoded form', send: () => call('/v1/identities', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x' }), status: 415, code: 'unsupported_media_type' },
  { name: 'multipart without a boundary', send: () => call('/v1/detect', { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'whatever' }), status: 400, code: 'invalid_request' },
  { name: 'multipart cut off before its closing boundary', send: () => call('/v1/detect', { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=hostileBoundary7' }, body: new Uint8Array(multipart([file(fx.face)]).subarray(0, 5000)) }), status: 400, code: 'invalid_request' },
  { name: 'empty file', send: () => detect(Buffer.alloc(0)), status: 400, code: 'invalid_image' },

  // broken and disguised images
  { name: 'truncated JPEG', send: () => detect(fx.face.subarray(0, fx.face.length >> 1)), status: 400, code: 'invalid_image' },
  { name: 'JPEG markers only (SOI, EOI)', send: () => detect(Buffer.from([0xff, 0xd8, 0xff, 0xd9])), status: 400, code: 'invalid_image' },
  { name: 'PNG signature only', send: () => detect(PNG_SIGNATURE), status: 400, code: 'invalid_image' },
  { name: 'PNG with a bad IDAT CRC', send: () => detect(fx.corruptCrc), status: 400, code: 'invalid_image' },
  { name: 'PNG whose IDAT is not zlib data', send: () => detect(fx.corruptIdat), status: 400, code: 'invalid_image' },
  { name: 'PNG declaring 0x0 pixels', send: () => detect(png(0, 0, zlib.deflateSync(Buffer.alloc(1)))), status: 400, code: 'invalid_image' },
  { name: 'PNG declaring width 0', send: () => detect(png(0, 64, zlib.deflateSync(Buffer.alloc(64)))), status: 400, code: 'invalid_image' },
  { name: 'GIF header only', send: () => detect('GIF89a'), status: 400, code: 'invalid_image' },
  { name: 'WebP RIFF header with junk', send: () => detect(Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'), Buffer.alloc(40, 0xab)])), status: 400, code: 'invalid_image' },
  { name: 'SVG named .jpg', send: () => detect('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"><image href="file:///etc/passwd"/></svg>'), status: 415, code: 'unsupported_format' },
  { name: 'PDF named .jpg', send: () => detect('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n'), status: 415, code: 'unsupported_format' },
  { name: 'HTML named .jpg', send: () => detect('<html><script>alert(1)</script></html>'), status: 415, code: 'unsupported_format' },
  { name: 'TIFF (a real image, decoded)', send: () => detect(fx.tiff), status: 200 },
  { name: 'BMP header named .jpg (recognised, refused)', send: () => detect(Buffer.concat([Buffer.from('BM\x3e\0\0\0\0\0\0\0\x36\0\0\0', 'latin1'), Buffer.alloc(48)])), status: 415, code: 'unsupported_format' },
  { name: 'HEIC header (recognised, refused)', send: () => detect(Buffer.concat([Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(64)])), status: 415, code: 'unsupported_format' },
  { name: 'ELF executable named .png', send: () => postParts('/v1/detect', [file(Buffer.from('\x7fELF\x02\x01\x01\x00', 'latin1'), 'image', 'x.png', 'image/png')]), status: 415, code: 'unsupported_format' },

  // decompression bombs: refused from the header, never decoded
  { name: 'PNG bomb: a real 30000x30000 PNG of ~110 KB', send: () => detect(fx.bomb), status: 413, code: 'image_too_large', check: (r) => assert.equal(r.body.error.details.width, 30000) },
  { name: 'PNG bomb as base64 JSON', send: () => detectB64(fx.bomb.toString('base64')), status: 413, code: 'image_too_large' },
  { name: 'JPEG whose header declares 65000x65000', send: () => detect(jpegDeclaring(fx.face, 65000, 65000)), status: 413, code: 'image_too_large' },
  { name: 'GIF whose screen and frame declare 65535x65535', send: () => detect(gifDeclaring(65535, 65535)), status: 413, code: 'image_too_large' },

  // odd but valid images
  { name: '1x1 image: detect finds no face', send: () => detect(fx.onePixel), status: 200, check: faces(0, 0) },
  { name: '1x1 images: verify has no face', send: () => postParts('/v1/verify', [file(fx.onePixel, 'image_a'), file(fx.onePixel, 'image_b')]), status: 422, code: 'no_face' },
  { name: '1x1 image: search answers no faces', send: () => postParts('/v1/search', [file(fx.onePixel)]), status: 200, check: faces(0, 0) },
  { name: 'animated GIF: the first frame is used (face first)', send: () => detect(fx.gifFaceFirst), status: 200, check: faces(1) },
  { name: 'animated GIF: the first frame is used (face second)', send: () => detect(fx.gifFaceSecond), status: 200, check: faces(0, 0) },
  { name: 'CMYK JPEG', send: () => detect(fx.cmyk), status: 200, check: faces(1) },
  { name: '16-bit PNG', send: () => detect(fx.png16), status: 200, check: faces(1) },
  { name: 'greyscale JPEG', send: () => detect(fx.grey), status: 200, check: faces(1) },
  { name: 'greyscale PNG with alpha', send: () => detect(fx.greyAlpha), status: 200, check: faces(1) },
  { name: 'a file name with path traversal is ignored', send: () => postParts('/v1/detect', [file(fx.face, 'image', '../../../etc/passwd')]), status: 200, check: faces(1) },

  // base64
  { name: 'base64 over the per-image limit', send: () => detectB64('A'.repeat(Math.ceil((MAX_IMAGE_BYTES + 4096) / 3) * 4)), status: 413, code: 'image_too_large' },
  { name: 'base64 over the request limit', send: () => detectB64('A'.repeat(MAX_REQUEST_BYTES + 1024)), status: 413, code: 'payload_too_large' },
  { name: 'base64 with invalid characters', send: () => detectB64('%%%%$$$$'), status: 400, code: 'invalid_base64' },
  // base64url is accepted (issue 11): these six bytes decode, and are then refused as what they are, no image
  { name: 'base64url alphabet', send: () => detectB64('ab-_cd-_'), status: 415, code: 'unsupported_format' },
  { name: 'base64 and base64url alphabets mixed', send: () => detectB64('ab+_cd-/'), status: 400, code: 'invalid_base64' },
  { name: 'unpadded base64 with non-zero pad bits', send: () => detectB64('QUJ'), status: 400, code: 'invalid_base64' },
  { name: 'base64 with padding in the middle', send: () => detectB64('AA==AA=='), status: 400, code: 'invalid_base64' },
  { name: 'data: URL with invalid base64', send: () => detectB64('data:image/png;base64,@@@@'), status: 400, code: 'invalid_base64' },
  { name: 'data: URL claiming text/html holding text', send: () => detectB64(`data:text/html;base64,${Buffer.from('<html>hi</html>!').toString('base64')}`), status: 415, code: 'unsupported_format' },
  { name: 'whitespace only', send: () => detectB64(' \n\t '), status: 400, code: 'invalid_image' },
  { name: 'an http URL (never fetched)', send: () => detectB64('http://169.254.169.254/latest/meta-data/iam/security-credentials/'), status: 400, code: 'invalid_base64' },
  { name: 'a file: URL (never read)', send: () => detectB64('file:///etc/passwd'), status: 400, code: 'invalid_base64' },
  { name: 'a server path (never read)', send: () => detectB64('/etc/passwd'), status: 400, code: 'invalid_base64' },
  { name: 'a relative server path (never read)', send: () => detectB64('../../../../etc/shadow'), status: 400, code: 'invalid_base64' },
  { name: 'image as an object', send: () => detectB64({ url: 'http://example.com/a.jpg' }), status: 400, code: 'invalid_request' },
  { name: 'image as 1000 strings', send: () => detectB64(Array(1000).fill('AAAA')), status: 413, code: 'too_many_images' },

  // too many parts
  { name: 'multipart with 300 files', send: () => postParts('/v1/detect', Array.from({ length: 300 }, () => file(fx.tinyPng))), status: 413, code: 'too_many_images' },
  { name: 'multipart with 300 text fields', send: () => postParts('/v1/detect', Array.from({ length: 300 }, (_, i) => ({ field: `f${i}`, data: 'x' }))), status: 400, code: 'invalid_request' },

  // deep JSON
  { name: 'image nested 10000 arrays deep', send: () => json('POST', '/v1/detect', `{"image":${deep(10000, '[', ']', '"AAAA"')}}`), status: 400, code: 'invalid_request' },
  { name: 'metadata nested 10000 objects deep', send: () => json('POST', '/v1/identities', `{"name":"deep","metadata":${deep(10000, '{"a":', '}', '1')}}`), status: 400, code: 'invalid_request' },
  { name: 'metadata nested 200000 arrays deep', send: () => json('POST', '/v1/identities', `{"name":"deeper","metadata":{"a":${deep(200000, '[', ']', '1')}}}`), status: 400, code: 'invalid_request' },

  // names, external ids, prototype pollution
  { name: 'emoji and non-Latin name within limits', send: () => json('POST', '/v1/identities', { name: '👩‍🔬 Ада Łovelace 李', external_id: 'ext-😀' }), status: 201, check: (r) => { assert.equal(r.body.name, '👩‍🔬 Ада Łovelace 李'); assert.equal(r.body.external_id, 'ext-😀'); } },
  { name: '10000-character name', send: () => json('POST', '/v1/identities', { name: 'n'.repeat(10000) }), status: 400, code: 'invalid_request' },
  { name: 'name with a null byte is stored exactly as sent', send: () => json('POST', '/v1/identities', { name: 'nul\u0000byte' }), status: 201, check: async (r) => { assert.equal((await call(`/v1/identities/${r.body.id}`)).body.name, 'nul\u0000byte'); } },
  { name: 'a taken external_id', send: () => json('POST', '/v1/identities', { name: 'other', external_id: 'taken-ext' }), status: 409, code: 'external_id_conflict' },
  { name: 'PATCH onto a taken external_id', send: async () => json('PATCH', `/v1/identities/${(await json('POST', '/v1/identities', { name: 'p' })).body.id}`, { external_id: 'taken-ext' }), status: 409, code: 'external_id_conflict' },
  { name: '__proto__ in metadata', send: () => json('POST', '/v1/identities', '{"name":"proto","metadata":{"__proto__":{"polluted":"yes"}}}'), status: 400, code: 'invalid_request' },
  { name: 'constructor.prototype in metadata', send: () => json('POST', '/v1/identities', '{"name":"ctor","metadata":{"constructor":{"prototype":{"polluted":"yes"}}}}'), status: 400, code: 'invalid_request' },
  { name: '__proto__ as the whole body key', send: () => json('PATCH', `/v1/identities/${fx.existingId}`, '{"__proto__":{"polluted":"yes"}}'), status: 400, code: 'invalid_request' },
  { name: '__proto__ in the query string', send: () => call('/v1/identities?__proto__[polluted]=yes&constructor[prototype][polluted]=yes'), status: 400, code: 'invalid_request' },
  { name: 'names that are Object.prototype keys are plain names', send: () => json('POST', '/v1/identities', { name: '__proto__', external_id: 'constructor', metadata: { toString: 'x', hasOwnProperty: 1 } }), status: 201, check: (r) => assert.deepEqual(r.body.metadata, { toString: 'x', hasOwnProperty: 1 }) },

  // ids in paths
  { name: 'unknown identity', send: () => call(`/v1/identities/${UNKNOWN}`), status: 404, code: 'identity_not_found' },
  { name: 'path traversal id (encoded slashes)', send: () => call('/v1/identities/..%2F..%2F..%2Fetc%2Fpasswd'), status: 404, code: 'identity_not_found' },
  { name: 'path traversal id on enroll', send: () => postParts('/v1/identities/..%2F..%2Fdata%2Fgallery.sqlite/faces', [file(fx.face, 'images')]), status: 404, code: 'identity_not_found' },
  { name: 'null byte in an id', send: () => call('/v1/identities/abc%00def'), status: 404, code: 'identity_not_found' },
  { name: 'SQL in an id', send: () => call(`/v1/identities/${encodeURIComponent("' OR '1'='1")}`, { method: 'DELETE' }), status: 404, code: 'identity_not_found' },
  { name: 'an id of 1000 characters (over the router\'s parameter length)', send: () => call(`/v1/identities/${'a'.repeat(1000)}`), status: 400, code: 'invalid_request' },
  { name: 'an id of 101 characters (over the schema\'s length)', send: () => call(`/v1/identities/${'a'.repeat(101)}`), status: 400, code: 'invalid_request' },
  { name: 'bad percent-encoding in a path', send: () => call('/v1/identities/%E0%A4%A'), status: 400, code: 'invalid_request' },
  { name: 'unknown face of a known identity', send: () => call(`/v1/identities/${fx.existingId}/faces/..%2F${UNKNOWN}`, { method: 'DELETE' }), status: 404, code: 'face_not_found' },
  { name: 'verify against an unknown identity', send: () => postParts(`/v1/identities/${UNKNOWN}/verify`, [file(fx.face)]), status: 404, code: 'identity_not_found' },
  { name: 'SQL in a cursor', send: () => call(`/v1/identities?cursor=${encodeURIComponent("1; DROP TABLE faces; --")}`), status: 400, code: 'invalid_cursor' },

  // query parameters
  { name: 'negative k', send: () => postParts('/v1/search?k=-1', [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'k of a billion', send: () => postParts('/v1/search?k=1000000000', [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'fractional k', send: () => postParts('/v1/search?k=1.5', [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'repeated k', send: () => postParts('/v1/search?k=1&k=2', [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'repeated limit', send: () => call('/v1/identities?limit=1&limit=1000'), status: 400, code: 'invalid_request' },
  { name: 'threshold NaN', send: () => postParts('/v1/search?threshold=NaN', [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'threshold Infinity', send: () => postParts('/v1/verify?threshold=Infinity', [file(fx.tinyPng, 'image_a'), file(fx.tinyPng, 'image_b')]), status: 400, code: 'invalid_request' },
  { name: 'threshold -Infinity', send: () => postParts('/v1/search?threshold=-Infinity', [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'empty threshold', send: () => postParts('/v1/search?threshold=', [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'threshold 1e309', send: () => postParts('/v1/search?threshold=1e309', [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'threshold out of range', send: () => postParts(`/v1/identities/${fx.existingId}/verify?threshold=-1.5`, [file(fx.tinyPng)]), status: 400, code: 'invalid_request' },
  { name: 'max_faces=0', send: () => detect(fx.tinyPng, '?max_faces=0'), status: 400, code: 'invalid_request' },
  { name: 'max_faces of a million', send: () => detect(fx.tinyPng, '?max_faces=1000000'), status: 400, code: 'invalid_request' },
  { name: 'min_score NaN', send: () => detect(fx.tinyPng, '?min_score=NaN'), status: 400, code: 'invalid_request' },

  // methods and HTTP-level lies
  { name: 'PUT on the identities collection', send: () => json('PUT', '/v1/identities', { name: 'x' }), status: 404, code: 'not_found' },
  { name: 'DELETE on detect', send: () => call('/v1/detect', { method: 'DELETE' }), status: 404, code: 'not_found' },
  { name: 'GET on search', send: () => call('/v1/search'), status: 404, code: 'not_found' },
  { name: 'Content-Length far above the request limit, no body sent', send: () => raw(rawPost('/v1/detect', 'Content-Type: application/json\r\nContent-Length: 999999999\r\n')), status: 413, code: 'payload_too_large' },
  { name: 'Content-Length shorter than the body', send: () => raw(rawPost('/v1/detect', 'Content-Type: application/json\r\nContent-Length: 10\r\n', '{"image": "AAAAAAAAAAAA"}')), status: 400, code: 'invalid_request' },
  { name: 'Content-Length longer than the body, then the client hangs up', send: () => raw(rawPost('/v1/identities', 'Content-Type: application/json\r\nContent-Length: 500\r\n', '{"name": "x"'), { endAfterWrite: true }), status: 400, code: 'invalid_request' },
  { name: 'Content-Length and Transfer-Encoding both (request smuggling)', send: () => raw(rawPost('/v1/identities', 'Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n')), status: 400, code: 'invalid_request' },
  { name: 'a 64 KB header', send: () => raw(rawPost('/v1/detect', `X-Junk: ${'j'.repeat(64 * 1024)}\r\nContent-Length: 0\r\n`)), status: 431, code: 'invalid_request' },
];

test(`the corpus has at least 40 cases (${CASES.length})`, () => {
  assert.ok(CASES.length >= 40);
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'case names are unique');
});

for (const c of CASES) {
  test(`${c.name} -> ${c.status}${c.code ? ` ${c.code}` : ''}`, async () => {
    const r = await c.send();
    if (c.code) assertError(r, c.status, c.code, c.name);
    else assert.equal(r.status, c.status, `${c.name}: ${r.text.slice(0, 300)}`);
    await c.check?.(r);
  });
}

test('after the corpus: healthz and a normal detect work, memory stayed bounded, nothing was polluted', async (t) => {
  const h = await call('/healthz');
  assert.equal(h.status, 200, h.text);
  assert.equal(h.body.status, 'ok');
  const d = await detect(fx.face);
  assert.equal(d.status, 200, d.text);
  assert.ok(d.body.faces.length >= 1);
  global.gc?.();
  const growth = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  t.diagnostic(`RSS grew by ${growth.toFixed(0)} MB over the corpus`);
  assert.ok(growth < 300, `RSS grew by ${growth.toFixed(0)} MB over the corpus`);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was not polluted');
  assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  const listed = await call('/v1/identities?limit=1000');
  assert.equal(listed.status, 200);
  assert.ok(listed.body.items.every((i: { metadata: unknown }) => i.metadata === null || !Object.hasOwn(i.metadata as object, 'polluted')));
});
