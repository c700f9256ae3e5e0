// Conversions between SQLite rows/BLOBs and gallery records; no database access, so the SQL file stays about SQL.

import type { Box, FaceRecord, IdentityRecord, Metadata } from './types.ts';

/** Column list shared by every identity query: faceCount comes from the center's count (0 without faces). */
export const IDENTITY_COLUMNS = `i.label, i.id, i.name, i.external_id, i.metadata, i.created_at, i.updated_at,
  COALESCE(c.count, 0) AS face_count`;
export const IDENTITY_FROM = `identities i LEFT JOIN centers c ON c.identity_label = i.label`;

export const FACE_COLUMNS = `f.seq, f.id, i.id AS identity_id, f.identity_label, f.model_id, f.det_score, f.box,
  f.image_sha256, (f.crop IS NOT NULL) AS has_crop, f.created_at`;
export const FACE_FROM = `faces f JOIN identities i ON i.label = f.identity_label`;

export interface IdentityRow {
  label: number;
  id: string;
  name: string;
  external_id: string | null;
  metadata: string | null;
  created_at: string;
  updated_at: string;
  face_count: number;
}

export interface FaceRow {
  seq: number;
  id: string;
  identity_id: string;
  identity_label: number;
  model_id: string;
  det_score: number;
  box: string;
  image_sha256: string;
  has_crop: number;
  created_at: string;
}

export function identityFromRow(r: IdentityRow): IdentityRecord {
  return {
    label: r.label,
    id: r.id,
    name: r.name,
    externalId: r.external_id,
    metadata: r.metadata === null ? null : (JSON.parse(r.metadata) as Metadata),
    faceCount: r.face_count,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function faceFromRow(r: FaceRow): FaceRecord {
  return {
    seq: r.seq,
    id: r.id,
    identityId: r.identity_id,
    identityLabel: r.identity_label,
    modelId: r.model_id,
    detScore: r.det_score,
    box: JSON.parse(r.box) as Box,
    imageSha256: r.image_sha256,
    hasCrop: r.has_crop === 1,
    createdAt: r.created_at,
  };
}

/** float32 vector -> BLOB (copied, so later changes to the caller's array cannot alter what was stored). */
export function encodeF32(v: Float32Array): Buffer {
  return Buffer.from(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

/** BLOB -> float32 vector. Copies because a Buffer's offset need not be 4-byte aligned. */
export function decodeF32(buf: Buffer, what: string): Float32Array {
  if (buf.byteLength % 4 !== 0) throw new Error(`${what}: BLOB of ${buf.byteLength} bytes is not a float32 vector`);
  const copy = new ArrayBuffer(buf.byteLength);
  new Uint8Array(copy).set(buf);
  return new Float32Array(copy);
}
