// Extracts uploaded images from multipart/form-data files or base64 strings in a JSON body.
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';

export interface ImageLimits {
  maxImageBytes: number;
  maxImagesPerRequest: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes a base64 string (optionally a data: URL) strictly, refusing oversize input before decoding. */
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
  if (s.length % 4 !== 0 || !BASE64.test(s)) {
    throw new ApiError('invalid_base64', `field "${field}" is not valid base64`);
  }
  return Buffer.from(s, 'base64');
}

/**
 * Reads the named image fields. Multipart: file parts (a field may repeat up to the per-request limit).
 * JSON: a base64 string or an array of them per field. Returns buffers per field in upload order.
 */
export async function readImages(req: FastifyRequest, fields: readonly string[], limits: ImageLimits): Promise<Map<string, Buffer[]>> {
  const out = new Map<string, Buffer[]>(fields.map((f) => [f, []]));
  let count = 0;
  const add = (field: string, buf: Buffer) => {
    if (++count > limits.maxImagesPerRequest) {
      throw new ApiError('too_many_images', `at most ${limits.maxImagesPerRequest} images per request`);
    }
    out.get(field)!.push(buf);
  };
  if (req.isMultipart()) {
    try {
      for await (const part of req.parts()) {
        if (part.type !== 'file') continue;
        if (!out.has(part.fieldname)) {
          await part.toBuffer().catch(() => undefined); // drain so the stream can continue
          throw new ApiError('invalid_request', `unexpected file field "${part.fieldname}"; expected ${fields.map((f) => `"${f}"`).join(' or ')}`);
        }
        const buf = await part.toBuffer();
        if (part.file.truncated) {
          throw new ApiError('image_too_large', `file "${part.fieldname}" is larger than ${limits.maxImageBytes} bytes`);
        }
        add(part.fieldname, buf);
      }
    } catch (e) {
      throw malformedMultipart(e);
    }
  } else {
    const body = req.body;
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
  }
  return out;
}

/**
 * Busboy reports a broken body (no boundary, cut off before the closing boundary, bad part headers) as a plain
 * Error without a code, which the error handler would answer with a 500; it is the client's request that is wrong.
 * Errors with a code (our ApiError, Fastify's FST_* limits) pass through unchanged.
 */
function malformedMultipart(e: unknown): unknown {
  if (e instanceof ApiError || !(e instanceof Error) || (e as { code?: unknown }).code !== undefined) return e;
  return new ApiError('invalid_request', `the multipart/form-data body is malformed (${e.message})`);
}

/** Exactly one image in `field`, or a clear error. */
export function single(images: Map<string, Buffer[]>, field: string): Buffer {
  const list = images.get(field) ?? [];
  if (list.length === 0) throw new ApiError('missing_field', `an image is required in field "${field}"`);
  if (list.length > 1) throw new ApiError('invalid_request', `field "${field}" takes one image, got ${list.length}`);
  return list[0];
}
