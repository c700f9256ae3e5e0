// Every SQL statement of the SQLite gallery store, as a StoreTx; the connection itself is opened in sqlite-store.ts.
//
// The database is typed structurally here so that better-sqlite3 stays imported by sqlite-store.ts alone.

import { GalleryError } from './errors.ts';
import {
  FACE_COLUMNS, FACE_FROM, IDENTITY_COLUMNS, IDENTITY_FROM, decodeF32, encodeF32, faceFromRow, identityFromRow,
  type FaceRow, type IdentityRow,
} from './sqlite-rows.ts';
import type {
  CenterState, FaceCounts, FaceRecord, GalleryMeta, IdentityPatch, IdentityRecord, NewFaceRecord,
  NewIdentityRecord, StoreTx,
} from './types.ts';

/** The part of a better-sqlite3 statement used here. */
interface Statement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  /** Sticky on the prepared statement, so a given SQL string is always used either plucked or not. */
  pluck(toggle?: boolean): Statement;
}

export interface SqlDatabase {
  prepare(sql: string): Statement;
}

export class SqliteTx implements StoreTx {
  readonly #db: SqlDatabase;
  readonly #stmts = new Map<string, Statement>();
  #erased = false; // rows of faces or identities were deleted since the last takeErased()

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  /** Whether faces or identities were deleted since the last call (the store then purges the WAL after commit). */
  takeErased(): boolean {
    const erased = this.#erased;
    this.#erased = false;
    return erased;
  }

  #erase(changes: number): number {
    if (changes > 0) this.#erased = true;
    return changes;
  }

  #q(sql: string): Statement {
    let st = this.#stmts.get(sql);
    if (!st) this.#stmts.set(sql, (st = this.#db.prepare(sql)));
    return st;
  }

  async getMeta(): Promise<GalleryMeta> {
    const rows = this.#q('SELECT key, value FROM meta').all() as Array<{ key: string; value: string }>;
    const kv = new Map(rows.map((r) => [r.key, r.value]));
    const dim = kv.get('dim');
    return {
      modelId: kv.get('model_id') ?? null,
      dim: dim === undefined ? null : Number(dim),
      stateVersion: Number(kv.get('state_version') ?? 0),
    };
  }

  async setModel(modelId: string, dim: number): Promise<void> {
    const put = this.#q('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    put.run('model_id', modelId);
    put.run('dim', String(dim));
  }

  async bumpStateVersion(): Promise<number> {
    const sql = `UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'state_version' RETURNING value`;
    return Number((this.#q(sql).get() as { value: string }).value);
  }

  async insertIdentity(rec: NewIdentityRecord): Promise<IdentityRecord> {
    try {
      this.#q(`INSERT INTO identities (id, name, external_id, metadata, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?)`).run(
        rec.id, rec.name, rec.externalId, rec.metadata === null ? null : JSON.stringify(rec.metadata),
        rec.createdAt, rec.createdAt,
      );
    } catch (err) {
      throw this.#mapConflict(err, rec.externalId);
    }
    return (await this.getIdentity(rec.id))!;
  }

  async getIdentity(id: string): Promise<IdentityRecord | null> {
    const row = this.#q(`SELECT ${IDENTITY_COLUMNS} FROM ${IDENTITY_FROM} WHERE i.id = ?`).get(id) as IdentityRow | undefined;
    return row ? identityFromRow(row) : null;
  }

  async getIdentityByExternalId(externalId: string): Promise<IdentityRecord | null> {
    const sql = `SELECT ${IDENTITY_COLUMNS} FROM ${IDENTITY_FROM} WHERE i.external_id = ?`;
    const row = this.#q(sql).get(externalId) as IdentityRow | undefined;
    return row ? identityFromRow(row) : null;
  }

  async getIdentitiesByLabels(labels: readonly number[]): Promise<IdentityRecord[]> {
    if (labels.length === 0) return [];
    const sql = `SELECT ${IDENTITY_COLUMNS} FROM ${IDENTITY_FROM} WHERE i.label IN (SELECT value FROM json_each(?))`;
    return (this.#q(sql).all(JSON.stringify(labels)) as IdentityRow[]).map(identityFromRow);
  }

  async listIdentities(afterLabel: number, limit: number): Promise<IdentityRecord[]> {
    const sql = `SELECT ${IDENTITY_COLUMNS} FROM ${IDENTITY_FROM} WHERE i.label > ? ORDER BY i.label LIMIT ?`;
    return (this.#q(sql).all(afterLabel, limit) as IdentityRow[]).map(identityFromRow);
  }

  async updateIdentity(label: number, patch: IdentityPatch, updatedAt: string): Promise<IdentityRecord> {
    const sql = `UPDATE identities SET
        name = CASE WHEN @setName THEN @name ELSE name END,
        external_id = CASE WHEN @setExt THEN @ext ELSE external_id END,
        metadata = CASE WHEN @setMeta THEN @meta ELSE metadata END,
        updated_at = @updatedAt
      WHERE label = @label RETURNING id`;
    try {
      const row = this.#q(sql).get({
        label, updatedAt,
        setName: patch.name === undefined ? 0 : 1, name: patch.name ?? null,
        setExt: patch.externalId === undefined ? 0 : 1, ext: patch.externalId ?? null,
        setMeta: patch.metadata === undefined ? 0 : 1,
        meta: patch.metadata == null ? null : JSON.stringify(patch.metadata),
      }) as { id: string } | undefined;
      if (!row) throw new GalleryError('identity_not_found', `no identity with label ${label}`);
      return (await this.getIdentity(row.id))!;
    } catch (err) {
      throw this.#mapConflict(err, patch.externalId ?? null);
    }
  }

  async deleteIdentity(label: number): Promise<boolean> {
    return this.#erase(this.#q('DELETE FROM identities WHERE label = ?').run(label).changes) > 0;
  }

  async countIdentities(): Promise<number> {
    return this.#q('SELECT COUNT(*) FROM identities').pluck().get() as number;
  }

  async insertFace(rec: NewFaceRecord): Promise<FaceRecord> {
    this.#q(`INSERT INTO faces (id, identity_label, embedding, model_id, det_score, box, image_sha256, crop, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      rec.id, rec.identityLabel, encodeF32(rec.embedding), rec.modelId, rec.detScore, JSON.stringify(rec.box),
      rec.imageSha256, rec.crop, rec.createdAt,
    );
    return (await this.getFace(rec.id))!;
  }

  async getFace(id: string): Promise<FaceRecord | null> {
    const row = this.#q(`SELECT ${FACE_COLUMNS} FROM ${FACE_FROM} WHERE f.id = ?`).get(id) as FaceRow | undefined;
    return row ? faceFromRow(row) : null;
  }

  async listFaces(identityLabel: number): Promise<FaceRecord[]> {
    const sql = `SELECT ${FACE_COLUMNS} FROM ${FACE_FROM} WHERE f.identity_label = ? ORDER BY f.seq`;
    return (this.#q(sql).all(identityLabel) as FaceRow[]).map(faceFromRow);
  }

  async findFaceByImage(identityLabel: number, imageSha256: string): Promise<string | null> {
    const sql = 'SELECT id FROM faces WHERE identity_label = ? AND image_sha256 = ?';
    return (this.#q(sql).pluck().get(identityLabel, imageSha256) as string | undefined) ?? null;
  }

  async faceEmbeddings(identityLabel: number): Promise<Float32Array[]> {
    const blobs = this.#q('SELECT embedding FROM faces WHERE identity_label = ? ORDER BY seq').pluck().all(identityLabel);
    return (blobs as Buffer[]).map((b) => decodeF32(b, 'faces.embedding'));
  }

  async getFaceCrop(id: string): Promise<Buffer | null> {
    return (this.#q('SELECT crop FROM faces WHERE id = ?').pluck().get(id) as Buffer | null | undefined) ?? null;
  }

  async deleteFace(id: string): Promise<boolean> {
    return this.#erase(this.#q('DELETE FROM faces WHERE id = ?').run(id).changes) > 0;
  }

  async countFaces(): Promise<FaceCounts> {
    const row = this.#q('SELECT COUNT(*) AS total, COALESCE(SUM(crop IS NULL), 0) AS without FROM faces').get() as
      { total: number; without: number };
    return { total: row.total, withoutCrop: row.without };
  }

  async listFacesWithCrops(afterSeq: number, limit: number): Promise<Array<FaceRecord & { crop: Buffer | null }>> {
    const sql = `SELECT ${FACE_COLUMNS}, f.crop FROM ${FACE_FROM} WHERE f.seq > ? ORDER BY f.seq LIMIT ?`;
    const rows = this.#q(sql).all(afterSeq, limit) as Array<FaceRow & { crop: Buffer | null }>;
    return rows.map((r) => ({ ...faceFromRow(r), crop: r.crop }));
  }

  async deleteFacesWithoutCrop(): Promise<number> {
    return this.#erase(this.#q('DELETE FROM faces WHERE crop IS NULL').run().changes);
  }

  async getCenter(identityLabel: number): Promise<CenterState | null> {
    const row = this.#q('SELECT sum, count, center FROM centers WHERE identity_label = ?').get(identityLabel) as
      { sum: Buffer; count: number; center: Buffer } | undefined;
    if (!row) return null;
    return { sum: decodeF32(row.sum, 'centers.sum'), count: row.count, center: decodeF32(row.center, 'centers.center') };
  }

  async putCenter(identityLabel: number, c: CenterState): Promise<void> {
    this.#q(`INSERT INTO centers (identity_label, sum, count, center) VALUES (?, ?, ?, ?)
             ON CONFLICT(identity_label) DO UPDATE SET sum = excluded.sum, count = excluded.count, center = excluded.center`)
      .run(identityLabel, encodeF32(c.sum), c.count, encodeF32(c.center));
  }

  async deleteCenter(identityLabel: number): Promise<void> {
    this.#q('DELETE FROM centers WHERE identity_label = ?').run(identityLabel);
  }

  async deleteAllCenters(): Promise<void> {
    this.#q('DELETE FROM centers').run();
  }

  async listCenters(afterLabel: number, limit: number): Promise<Array<{ label: number; center: Float32Array }>> {
    const sql = 'SELECT identity_label AS label, center FROM centers WHERE identity_label > ? ORDER BY identity_label LIMIT ?';
    const rows = this.#q(sql).all(afterLabel, limit) as Array<{ label: number; center: Buffer }>;
    return rows.map((r) => ({ label: r.label, center: decodeF32(r.center, 'centers.center') }));
  }

  async centerLabels(): Promise<number[]> {
    return this.#q('SELECT identity_label FROM centers ORDER BY identity_label').pluck().all() as number[];
  }

  async countCenters(): Promise<number> {
    return this.#q('SELECT COUNT(*) FROM centers').pluck().get() as number;
  }

  async labelsWithFaces(): Promise<number[]> {
    return this.#q('SELECT DISTINCT identity_label FROM faces ORDER BY identity_label').pluck().all() as number[];
  }

  async stageEmbedding(faceId: string, modelId: string, embedding: Float32Array): Promise<void> {
    this.#q('INSERT OR REPLACE INTO reindex_staging (face_id, model_id, embedding) VALUES (?, ?, ?)')
      .run(faceId, modelId, encodeF32(embedding));
  }

  async countStaged(modelId: string): Promise<number> {
    return this.#q('SELECT COUNT(*) FROM reindex_staging WHERE model_id = ?').pluck().get(modelId) as number;
  }

  async stagedFaceIds(modelId: string, faceIds: readonly string[]): Promise<Set<string>> {
    const sql = 'SELECT face_id FROM reindex_staging WHERE model_id = ? AND face_id IN (SELECT value FROM json_each(?))';
    return new Set(this.#q(sql).pluck().all(modelId, JSON.stringify(faceIds)) as string[]);
  }

  async applyStaged(modelId: string): Promise<number> {
    const sql = `UPDATE faces SET embedding = s.embedding, model_id = s.model_id
                 FROM reindex_staging s WHERE s.face_id = faces.id AND s.model_id = ?`;
    return this.#q(sql).run(modelId).changes;
  }

  async clearStaging(): Promise<void> {
    this.#q('DELETE FROM reindex_staging').run();
  }

  #mapConflict(err: unknown, externalId: string | null): unknown {
    if (!isUniqueViolation(err, 'identities.external_id')) return err;
    return new GalleryError('external_id_conflict', `external id "${externalId}" is already used by another identity`,
      { externalId }, { cause: err });
  }
}

function isUniqueViolation(err: unknown, column: string): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' && (e.message ?? '').includes(column);
}
