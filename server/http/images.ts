// Extracts uploaded images from multipart/form-data files (streamed through busboy) or base64 strings in a JSON body.
import type { Request } from 'express';
import busboy from 'busboy';
import { ApiError } from '../errors.ts';
import { isJsonBody } from './body.ts';

export interface ImageLimits {
  maxImageBytes: number;
  maxImagesPerRequest: number;
}

/** Form fields (non-file parts) a multipart upload may carry; more is an error, not a reason to buffer them. */
const MAX_FORM_FIELDS = 20;
const MAX_FIELD_BYTES = 64 * 1024;

const STANDARD = /^[A-Za-z0-9+/]*$/;
const URL_SAFE = /^[A-Za-z0-9_-]*$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The 6-bit value of a base64 character of either alphabet (RFC 4648 tables 1 and 2). */
function sextet(c: string): number {
  const i = ALPHABET.indexOf(c);
  return i >= 0 ? i : c === '+' || c === '-' ? 62 : 63;
}

/**
 * Decodes base64 (RFC 4648 §4) or base64url (§5), padded or not, optionally inside a data: URL; whitespace is
 * ignored. Refused (invalid_base64): characters of neither alphabet, both alphabets mixed, padding anywhere but
 * at the end, an impossible length (4n+1), and non-zero pad bits (a non-canonical encoding, §3.5, which no encoder
 * writes). Oversize input is refused (image_too_large) before anything is decoded.
 */
export function decodeBase64Image(value: unknown, field: string, limits: ImageLimits): Buffer {
  if (typeof value !== 'string') throw new ApiError('invalid_request', `field "${field}" must be a base64 string`);
  let s = value;
  const comma = s.startsWith('data:') ? s.indexOf(',') : -1;
  if (comma >= 0) s = s.slice(comma + 1);
  s = s.replace(/\s+/g, '');
  if (s.length === 0) throw new ApiError('invalid_image', `field "${field}" is empty`);
  if (Math.floor((s.length * 3) / 4) > limits.maxImageBytes + 2) {
    throw new ApiError('image_too_large', `field "${field}" decodes to more than ${limits.maxImageBytes} bytes`);
  }
  const invalid = () => new ApiError('invalid_base64', `field "${field}" is not valid base64 or base64url`);
  const pad = s.length - s.replace(/=+$/, '').length;
  const data = s.slice(0, s.length - pad);
  if (pad > 2 || (pad > 0 && s.length % 4 !== 0) || data.length % 4 === 1) throw invalid();
  if (!STANDARD.test(data) && !URL_SAFE.test(data)) throw invalid();
  const rest = data.length % 4; // 2 or 3 characters carry 1 or 2 bytes; their low 4 or 2 bits are padding
  if (rest > 0 && (sextet(data[data.length - 1]) & (rest === 2 ? 0b1111 : 0b11)) !== 0) throw invalid();
  return Buffer.from(data, 'base64'); // Node's base64 decoder reads both alphabets
}

/**
 * Reads the named image fields. Multipart: file parts (a field may repeat up to the per-request limit).
 * JSON: a base64 string or an array of them per field. Returns buffers per field in upload order.
 */
export async function readImages(req: Request, fields: readonly string[], limits: ImageLimits): Promise<Map<string, Buffer[]>> {
  const out = new Map<string, Buffer[]>(fields.map((f) => [f, []]));
  let count = 0;
  const add = (field: string, buf: Buffer) => {
    if (++count > limits.maxImagesPerRequest) {
      throw new ApiError('too_many_images', `at most ${limits.maxImagesPerRequest} images per request`);
    }
    out.get(field)!.push(buf);
  };
  if (req.is('multipart/form-data')) {
    await readMultipart(req, fields, limits, add);
    return out;
  }
  const body = isJsonBody(req) ? req.body : undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError('invalid_request', `send multipart/form-data files or a JSON object with base64 field(s) ${fields.join(', ')}`);
  }
  for (const field of fields) {
    const v = (body as Record<string, unknown>)[field];
    if (v === undefined) continue;
    const list = Array.isArray(v) ? v : [v];
    if (list.length > limits.maxImagesPerRequest) {
      throw new ApiError('too_many_images', `at most ${limits.maxImagesPerRequest} images per request`);
    }
    list.forEach((item, i) => add(field, decodeBase64Image(item, Array.isArray(v) ? `${field}[${i}]` : field, limits)));
  }
  return out;
}

/**
 * Streams a multipart body through busboy, keeping the files of the expected fields. The first problem (a limit, an
 * unexpected field, a malformed or cut-off body) rejects at once; the rest of the body is then read and discarded.
 */
function readMultipart(req: Request, fields: readonly string[], limits: ImageLimits, add: (field: string, buf: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        limits: {
          fileSize: limits.maxImageBytes,
          files: limits.maxImagesPerRequest,
          fields: MAX_FORM_FIELDS,
          fieldSize: MAX_FIELD_BYTES,
          parts: limits.maxImagesPerRequest + MAX_FORM_FIELDS,
        },
      });
    } catch (e) {
      reject(malformed(e)); // no boundary, or a content type busboy cannot read
      return;
    }
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      req.unpipe(parser);
      req.resume(); // discard what is left so the answer can be sent on this connection
      reject(e instanceof ApiError ? e : malformed(e));
    };
    const tooMany = () => fail(new ApiError('too_many_images', 'the request has more files or parts than allowed'));
    parser.on('file', (name, stream) => {
      if (!fields.includes(name)) {
        stream.resume();
        fail(new ApiError('invalid_request', `unexpected file field "${name}"; expected ${fields.map((f) => `"${f}"`).join(' or ')}`));
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => { if (!failed) chunks.push(c); });
      stream.on('limit', () => fail(new ApiError('image_too_large', `file "${name}" is larger than ${limits.maxImageBytes} bytes`)));
      stream.on('error', fail);
      stream.on('end', () => {
        if (failed) return;
        try {
          add(name, Buffer.concat(chunks));
        } catch (e) {
          fail(e);
        }
      });
    });
    parser.on('filesLimit', tooMany);
    parser.on('partsLimit', tooMany);
    parser.on('fieldsLimit', () => fail(new ApiError('invalid_request', 'the request has more form fields than allowed')));
    parser.on('error', fail);
    parser.on('close', () => { if (!failed) resolve(); });
    req.on('error', fail);
    req.pipe(parser);
  });
}

/** Busboy reports a broken body as a plain Error; it is the client's request that is wrong. */
function malformed(e: unknown): ApiError {
  return new ApiError('invalid_request', `the multipart/form-data body is malformed (${e instanceof Error ? e.message : String(e)})`);
}

/** Exactly one image in `field`, or a clear error. */
export function single(images: Map<string, Buffer[]>, field: string): Buffer {
  const list = images.get(field) ?? [];
  if (list.length === 0) throw new ApiError('missing_field', `an image is required in field "${field}"`);
  if (list.length > 1) throw new ApiError('invalid_request', `field "${field}" takes one image, got ${list.length}`);
  return list[0];
}
