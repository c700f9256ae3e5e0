// Input checks for the gallery's public operations and the opaque list cursor; each failure names what was expected.

import { isNormalisable } from './center-math.ts';
import { GalleryError } from './errors.ts';
import type { Box, IdentityPatch, Metadata, NewFace } from './types.ts';

export const MAX_NAME_LENGTH = 200;
export const MAX_EXTERNAL_ID_LENGTH = 256;
export const MAX_METADATA_BYTES = 16 * 1024; // identity rows are read on every search hit; keep them small
export const MAX_LIST_LIMIT = 1000;
export const MAX_SEARCH_K = 1000;
export const MAX_FACES_PER_CALL = 1000;

function invalid(message: string, details?: Record<string, unknown>): GalleryError {
  return new GalleryError('invalid_argument', message, details);
}

/** Dimension and value checks shared by every write and search. */
export function checkEmbedding(v: unknown, dim: number, modelId: string, what = 'embedding'): Float32Array {
  if (!(v instanceof Float32Array)) throw new GalleryError('invalid_embedding', `${what} must be a Float32Array`);
  if (v.length !== dim) {
    throw new GalleryError('dimension_mismatch',
      `${what} has ${v.length} values, but the gallery's model "${modelId}" produces ${dim}`, { expected: dim, got: v.length });
  }
  if (!isNormalisable(v)) throw new GalleryError('invalid_embedding', `${what} is zero or contains NaN/Infinity`);
  return v;
}

export function checkName(v: unknown): string {
  const name = typeof v === 'string' ? v.trim() : '';
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw invalid(`name must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
  }
  return name;
}

export function checkExternalId(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_EXTERNAL_ID_LENGTH || v.trim() !== v) {
    throw invalid(`externalId must be a non-empty string of at most ${MAX_EXTERNAL_ID_LENGTH} characters without surrounding spaces`);
  }
  return v;
}

export function checkMetadata(v: unknown): Metadata | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid('metadata must be a JSON object');
  let json: string;
  try {
    json = JSON.stringify(v);
  } catch {
    throw invalid('metadata must be JSON-serialisable');
  }
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) throw invalid(`metadata must be at most ${MAX_METADATA_BYTES} bytes as JSON`);
  return JSON.parse(json) as Metadata; // a plain copy: later mutation by the caller cannot reach the store
}

export function checkPatch(p: IdentityPatch): IdentityPatch {
  const out: IdentityPatch = {};
  if (p.name !== undefined) out.name = checkName(p.name);
  if (p.externalId !== undefined) out.externalId = checkExternalId(p.externalId);
  if (p.metadata !== undefined) out.metadata = checkMetadata(p.metadata);
  return out;
}

function checkBox(b: unknown): Box {
  const box = b as Partial<Box> | null;
  const ok = box !== null && typeof box === 'object'
    && [box.x, box.y, box.width, box.height].every((n) => typeof n === 'number' && Number.isFinite(n))
    && box.width! >= 0 && box.height! >= 0;
  if (!ok) throw invalid('box must be {x, y, width, height} with finite numbers and non-negative size');
  return { x: box.x!, y: box.y!, width: box.width!, height: box.height! };
}

/** A face ready to store; throws GalleryError on the first problem (reported per face by addFaces). */
export function checkNewFace(f: NewFace, dim: number, modelId: string): NewFace {
  if (f === null || typeof f !== 'object') throw invalid('face must be an object');
  const embedding = checkEmbedding(f.embedding, dim, modelId);
  if (typeof f.detScore !== 'number' || !Number.isFinite(f.detScore)) throw invalid('detScore must be a finite number');
  const sha = typeof f.imageSha256 === 'string' ? f.imageSha256.toLowerCase() : '';
  if (!/^[0-9a-f]{64}$/.test(sha)) throw invalid('imageSha256 must be 64 hex characters (sha256 of the image bytes)');
  if (f.crop != null && !Buffer.isBuffer(f.crop)) throw invalid('crop must be a Buffer (JPEG bytes) when given');
  return { embedding, detScore: f.detScore, box: checkBox(f.box), imageSha256: sha, crop: f.crop ?? null };
}

export function checkFaceList(faces: unknown): readonly NewFace[] {
  if (!Array.isArray(faces) || faces.length === 0 || faces.length > MAX_FACES_PER_CALL) {
    throw invalid(`faces must be an array of 1 to ${MAX_FACES_PER_CALL} faces`);
  }
  return faces as NewFace[];
}

export function checkLimit(v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_LIST_LIMIT) {
    throw invalid(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}, got ${String(v)}`);
  }
  return v as number;
}

export function checkK(v: unknown): number {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_SEARCH_K) {
    throw invalid(`k must be an integer from 1 to ${MAX_SEARCH_K}, got ${String(v)}`);
  }
  return v as number;
}

// Cursors are opaque to clients so the ordering key can change later without breaking them.
export function encodeCursor(afterLabel: number): string {
  return Buffer.from(`c1:${afterLabel}`).toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined): number {
  if (cursor === undefined || cursor === null || cursor === '') return 0;
  const m = typeof cursor === 'string' ? /^c1:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString()) : null;
  if (!m) throw new GalleryError('invalid_cursor', 'cursor is not one returned by listIdentities');
  return Number(m[1]);
}
