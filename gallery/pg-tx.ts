// Every SQL statement of the PostgreSQL gallery store, as a StoreTx on one pooled connection (pg-store.ts opens it).
//
// Concurrency across replicas: PostgreSQL runs each transaction at READ COMMITTED, so a read-modify-write of a
// center (enrol: read the center, add the new faces, write it back; delete a face: re-read the remaining
// embeddings) first locks the identity's row (FOR NO KEY UPDATE) inside write transactions. Two replicas
// enrolling into one identity then queue on that row, and the second reads the first's committed center: the
// stored center is exactly the mean of all faces. NO KEY UPDATE, not UPDATE, so foreign-key checks of other
// transactions (KEY SHARE) are not blocked by it.

import { GalleryError } from './errors.ts';
import {
  FACE_COLUMNS, FACE_FROM, IDENTITY_COLUMNS, IDENTITY_FROM, decodeF32, encodeF32, faceFromPg, identityFromPg,
  type PgFaceRow, type PgIdentityRow,
} from './pg-rows.ts';
import type {
  CenterState, FaceCounts, FaceRecord, GalleryMeta, IdentityPatch, IdentityRecord, NewFaceRecord,
  NewIdentityRecord, StoreTx,
} from './types.ts';

/** The part of a pg client used here (pg stays imported by pg-store.ts alone). */
export interface PgQueryable {
  query<R = any>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export class PgTx implements StoreTx {
  readonly #c: PgQueryable;
  readonly #write: boolean;
  readonly #locked = new Set<number>(); // identity rows this transaction already holds

  constructor(client: PgQueryable, write: boolean) {
    this.#c = client;
    this.#write = write;
  }

  async #rows<R>(sql: string, values: unknown[] = []): Promise<R[]> {
    return (await this.#c.query<R>(sql, values)).rows;
  }

  async #one<R>(sql: string, values: unknown[] = []): Promise<R | undefined> {
    return (await this.#rows<R>(sql, values))[0];
  }

  /** Locks the identity row for the rest of a write transaction; throws identity_not_found when it is gone. */
  async #lockIdentity(label: number): Promise<void> {
    if (!this.#write || this.#locked.has(label)) return;
    const row = await this.#one('SELECT label FROM identities WHERE label = $1 FOR NO KEY UPDATE', [label]);
    if (!row) throw new GalleryError('identity_not_found', `identity with label ${label} was deleted meanwhile`);
    this.#locked.add(label);
  }

  async getMeta(): Promise<GalleryMeta> {
    const rows = await this.#rows<{ key: string; value: string }>('SELECT key, value FROM meta');
    const kv = new Map(rows.map((r) => [r.key, r.value]));
    const dim = kv.get('dim');
    return { modelId: kv.get('model_id') ?? null, dim: dim === undefined ? null : Number(dim), stateVersion: Number(kv.get('state_version') ?? 0) };
  }

  async setModel(modelId: string, dim: number): Promise<void> {
    const sql = 'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value';
    await this.#c.query(sql, ['model_id', modelId]);
    await this.#c.query(sql, ['dim', String(dim)]);
  }

  async bumpStateVersion(): Promise<number> {
    const sql = `UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'state_version' RETURNING value`;
    return Number((await this.#one<{ value: string }>(sql))!.value);
  }

  async insertIdentity(rec: NewIdentityRecord): Promise<IdentityRecord> {
    try {
      await this.#c.query(`INSERT INTO identities (id, name, external_id, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
        [rec.id, rec.name, rec.externalId, rec.metadata === null ? null : JSON.stringify(rec.metadata), rec.createdAt]);
    } catch (err) {
      throw mapConflict(err, rec.externalId);
    }
    return (await this.getIdentity(rec.id))!;
  }

  async getIdentity(id: string): Promise<IdentityRecord | null> {
    const row = await this.#one<PgIdentityRow>(`SELECT ${IDENTITY_COLUMNS} FROM ${IDENTITY_FROM} WHERE i.id = $1`, [id]);
    return row ? identityFromPg(row) : null;
  }

  async getIdentityByExternalId(externalId: string): Promise<IdentityRecord | null> {
    const row = await this.#one<PgIdentityRow>(`SELECT ${IDENTITY_COLUMNS} FROM ${IDENTITY_FROM} WHERE i.external_id = $1`, [externalId]);
    return row ? identityFromPg(row) : null;
  }

  async getIdentitiesByLabels(labels: readonly number[]): Promise<IdentityRecord[]> {
    if (labels.length === 0) return [];
    const rows = await this.#rows<PgIdentityRow>(`SELECT ${IDENTITY_COLUMNS} FROM ${IDENTITY_FROM} WHERE i.label = ANY($1::int[])`, [labels]);
    return rows.map(identityFromPg);
  }

  async listIdentities(afterLabel: number, limit: number): Promise<IdentityRecord[]> {
    const sql = `SELECT ${IDENTITY_COLUMNS} FROM ${IDENTITY_FROM} WHERE i.label > $1 ORDER BY i.label LIMIT $2`;
    return (await this.#rows<PgIdentityRow>(sql, [afterLabel, limit])).map(identityFromPg);
  }

  async updateIdentity(label: number, patch: IdentityPatch, updatedAt: string): Promise<IdentityRecord> {
    const sql = `UPDATE identities SET
        name = CASE WHEN $2 THEN $3 ELSE name END,
        external_id = CASE WHEN $4 THEN $5 ELSE external_id END,
        metadata = CASE WHEN $6 THEN $7::json ELSE metadata END,
        updated_at = $8
      WHERE label = $1 RETURNING id`;
    try {
      const row = await this.#one<{ id: string }>(sql, [
        label, patch.name !== undefined, patch.name ?? null, patch.externalId !== undefined, patch.externalId ?? null,
        patch.metadata !== undefined, patch.metadata == null ? null : JSON.stringify(patch.metadata), updatedAt,
      ]);
      if (!row) throw new GalleryError('identity_not_found', `no identity with label ${label}`);
      return (await this.getIdentity(row.id))!;
    } catch (err) {
      throw mapConflict(err, patch.externalId ?? null);
    }
  }

  async deleteIdentity(label: number): Promise<boolean> {
    return (await this.#c.query('DELETE FROM identities WHERE label = $1', [label])).rowCount! > 0;
  }

  async countIdentities(): Promise<number> {
    return (await this.#one<{ n: number }>('SELECT COUNT(*)::int AS n FROM identities'))!.n;
  }

  async insertFace(rec: NewFaceRecord): Promise<FaceRecord> {
    await this.#c.query(`INSERT INTO faces (id, identity_label, embedding, model_id, det_score, box, image_sha256, crop, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
      rec.id, rec.identityLabel, encodeF32(rec.embedding), rec.modelId, rec.detScore, JSON.stringify(rec.box), rec.imageSha256,
      rec.crop, rec.createdAt,
    ]);
    return (await this.getFace(rec.id))!;
  }

  async getFace(id: string): Promise<FaceRecord | null> {
    const row = await this.#one<PgFaceRow>(`SELECT ${FACE_COLUMNS} FROM ${FACE_FROM} WHERE f.id = $1`, [id]);
    return row ? faceFromPg(row) : null;
  }

  async listFaces(identityLabel: number): Promise<FaceRecord[]> {
    const sql = `SELECT ${FACE_COLUMNS} FROM ${FACE_FROM} WHERE f.identity_label = $1 ORDER BY f.seq`;
    return (await this.#rows<PgFaceRow>(sql, [identityLabel])).map(faceFromPg);
  }

  async findFaceByImage(identityLabel: number, imageSha256: string): Promise<string | null> {
    const row = await this.#one<{ id: string }>('SELECT id FROM faces WHERE identity_label = $1 AND image_sha256 = $2', [identityLabel, imageSha256]);
    return row?.id ?? null;
  }

  async faceEmbeddings(identityLabel: number): Promise<Float32Array[]> {
    const rows = await this.#rows<{ embedding: Buffer }>('SELECT embedding FROM faces WHERE identity_label = $1 ORDER BY seq', [identityLabel]);
    return rows.map((r) => decodeF32(r.embedding, 'faces.embedding'));
  }

  async getFaceCrop(id: string): Promise<Buffer | null> {
    return (await this.#one<{ crop: Buffer | null }>('SELECT crop FROM faces WHERE id = $1', [id]))?.crop ?? null;
  }

  async deleteFace(id: string): Promise<boolean> {
    const owner = await this.#one<{ identity_label: number }>('SELECT identity_label FROM faces WHERE id = $1', [id]);
    if (!owner) return false;
    await this.#lockIdentity(owner.identity_label); // the caller recomputes the center from the remaining faces next
    return (await this.#c.query('DELETE FROM faces WHERE id = $1', [id])).rowCount! > 0;
  }

  async countFaces(): Promise<FaceCounts> {
    const row = await this.#one<{ total: number; without: number }>(
      'SELECT COUNT(*)::int AS total, COUNT(*) FILTER (WHERE crop IS NULL)::int AS without FROM faces');
    return { total: row!.total, withoutCrop: row!.without };
  }

  async listFacesWithCrops(afterSeq: number, limit: number): Promise<Array<FaceRecord & { crop: Buffer | null }>> {
    const sql = `SELECT ${FACE_COLUMNS}, f.crop FROM ${FACE_FROM} WHERE f.seq > $1 ORDER BY f.seq LIMIT $2`;
    const rows = await this.#rows<PgFaceRow & { crop: Buffer | null }>(sql, [afterSeq, limit]);
    return rows.map((r) => ({ ...faceFromPg(r), crop: r.crop }));
  }

  async deleteFacesWithoutCrop(): Promise<number> {
    return (await this.#c.query('DELETE FROM faces WHERE crop IS NULL')).rowCount ?? 0;
  }

  async getCenter(identityLabel: number): Promise<CenterState | null> {
    await this.#lockIdentity(identityLabel); // in a write, the center is about to be updated from this value
    const row = await this.#one<{ sum: Buffer; count: number; center: Buffer }>(
      'SELECT sum, count, center FROM centers WHERE identity_label = $1', [identityLabel]);
    if (!row) return null;
    return { sum: decodeF32(row.sum, 'centers.sum'), count: row.count, center: decodeF32(row.center, 'centers.center') };
  }

  async putCenter(identityLabel: number, c: CenterState): Promise<void> {
    await this.#c.query(`INSERT INTO centers (identity_label, sum, count, center) VALUES ($1, $2, $3, $4)
      ON CONFLICT (identity_label) DO UPDATE SET sum = excluded.sum, count = excluded.count, center = excluded.center`,
    [identityLabel, encodeF32(c.sum), c.count, encodeF32(c.center)]);
  }

  async deleteCenter(identityLabel: number): Promise<void> {
    await this.#c.query('DELETE FROM centers WHERE identity_label = $1', [identityLabel]);
  }

  async deleteAllCenters(): Promise<void> {
    await this.#c.query('DELETE FROM centers');
  }

  async listCenters(afterLabel: number, limit: number): Promise<Array<{ label: number; center: Float32Array }>> {
    const rows = await this.#rows<{ label: number; center: Buffer }>(
      'SELECT identity_label AS label, center FROM centers WHERE identity_label > $1 ORDER BY identity_label LIMIT $2', [afterLabel, limit]);
    return rows.map((r) => ({ label: r.label, center: decodeF32(r.center, 'centers.center') }));
  }

  async centerLabels(): Promise<number[]> {
    return (await this.#rows<{ l: number }>('SELECT identity_label AS l FROM centers ORDER BY identity_label')).map((r) => r.l);
  }

  async countCenters(): Promise<number> {
    return (await this.#one<{ n: number }>('SELECT COUNT(*)::int AS n FROM centers'))!.n;
  }

  async labelsWithFaces(): Promise<number[]> {
    return (await this.#rows<{ l: number }>('SELECT DISTINCT identity_label AS l FROM faces ORDER BY identity_label')).map((r) => r.l);
  }

  async stageEmbedding(faceId: string, modelId: string, embedding: Float32Array): Promise<void> {
    await this.#c.query(`INSERT INTO reindex_staging (face_id, model_id, embedding) VALUES ($1, $2, $3)
      ON CONFLICT (face_id) DO UPDATE SET model_id = excluded.model_id, embedding = excluded.embedding`, [faceId, modelId, encodeF32(embedding)]);
  }

  async countStaged(modelId: string): Promise<number> {
    return (await this.#one<{ n: number }>('SELECT COUNT(*)::int AS n FROM reindex_staging WHERE model_id = $1', [modelId]))!.n;
  }

  async stagedFaceIds(modelId: string, faceIds: readonly string[]): Promise<Set<string>> {
    const rows = await this.#rows<{ face_id: string }>('SELECT face_id FROM reindex_staging WHERE model_id = $1 AND face_id = ANY($2::text[])',
      [modelId, faceIds]);
    return new Set(rows.map((r) => r.face_id));
  }

  async applyStaged(modelId: string): Promise<number> {
    const sql = `UPDATE faces SET embedding = s.embedding, model_id = s.model_id
                 FROM reindex_staging s WHERE s.face_id = faces.id AND s.model_id = $1`;
    return (await this.#c.query(sql, [modelId])).rowCount ?? 0;
  }

  async clearStaging(): Promise<void> {
    await this.#c.query('DELETE FROM reindex_staging');
  }
}

function mapConflict(err: unknown, externalId: string | null): unknown {
  const e = err as { code?: string; constraint?: string };
  if (e?.code !== '23505' || e.constraint !== 'identities_external_id_key') return err;
  return new GalleryError('external_id_conflict', `external id "${externalId}" is already used by another identity`,
    { externalId }, { cause: err });
}
