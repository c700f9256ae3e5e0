// Conversions between PostgreSQL rows and gallery records; no database access, so pg-tx.ts stays about SQL.

import { decodeF32 } from './sqlite-rows.ts';
import type { Box, FaceRecord, IdentityRecord, Metadata } from './types.ts';

export { decodeF32, encodeF32 } from './sqlite-rows.ts';

/** Column list shared by every identity query: faceCount comes from the center's count (0 without faces). */
export const IDENTITY_COLUMNS = `i.label, i.id, i.name, i.external_id, i.metadata, i.created_at, i.updated_at,
  COALESCE(c.count, 0) AS face_count`;
export const IDENTITY_FROM = 'identities i LEFT JOIN centers c ON c.identity_label = i.label';

export const FACE_COLUMNS = `f.seq, f.id, i.id AS identity_id, f.identity_label, f.model_id, f.det_score, f.box,
  f.image_sha256, (f.crop IS NOT NULL) AS has_crop, f.created_at`;
export const FACE_FROM = 'faces f JOIN identities i ON i.label = f.identity_label';

export interface PgIdentityRow {
  label: number;
  id: string;
  name: string;
  external_id: string | null;
  metadata: Metadata | null; // json columns arrive parsed
  created_at: string;
  updated_at: string;
  face_count: number;
}

export interface PgFaceRow {
  seq: number;
  id: string;
  identity_id: string;
  identity_label: number;
  model_id: string;
  det_score: number;
  box: Box;
  image_sha256: string;
  has_crop: boolean;
  created_at: string;
}

export function identityFromPg(r: PgIdentityRow): IdentityRecord {
  return {
    label: r.label, id: r.id, name: r.name, externalId: r.external_id, metadata: r.metadata, faceCount: r.face_count,
    createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

export function faceFromPg(r: PgFaceRow): FaceRecord {
  return {
    seq: r.seq, id: r.id, identityId: r.identity_id, identityLabel: r.identity_label, modelId: r.model_id, detScore: r.det_score,
    box: r.box, imageSha256: r.image_sha256, hasCrop: r.has_crop, createdAt: r.created_at,
  };
}

/** A center BLOB column, or null (LEFT JOIN without a center). */
export function centerOrNull(buf: Buffer | null, what: string): Float32Array | null {
  return buf === null ? null : decodeF32(buf, what);
}
