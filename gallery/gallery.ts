// The gallery service: identities, their faces and class centers, and search over centers; no HTTP, no drivers.
//
// Each write is one store transaction; the vector index is updated only after the commit (see IndexKeeper),
// so a crash can leave the index behind the store but never ahead of it, and the marker check on the next
// open repairs that by rebuilding.

import { randomUUID } from 'node:crypto';
import { addToCenter, centerFromEmbeddings, type CenterState } from './center-math.ts';
import { GalleryError } from './errors.ts';
import { IndexKeeper, type GalleryLogger, type IndexOpenReport, type SavePolicy } from './index-keeper.ts';
import { bindModel } from './model-binding.ts';
import type {
  AddFaceResult, AddFacesResult, Face, FaceRecord, GalleryStats, GalleryStore, Identity, IdentityPatch, IdentityRecord,
  NewFace, NewIdentity, Page, SearchHit, StoreTx, VectorIndex,
} from './types.ts';
import {
  checkEmbedding, checkExternalId, checkFaceList, checkK, checkLimit, checkMetadata, checkName, checkNewFace, checkPatch,
  decodeCursor, encodeCursor,
} from './validate.ts';

export interface GalleryDeps {
  store: GalleryStore;
  index: VectorIndex;
  modelId: string; // the embedding model the server runs; must match the gallery's
  dim: number;
  savePolicy?: SavePolicy;
  logger?: GalleryLogger;
}

export class Gallery {
  readonly modelId: string;
  readonly dim: number;
  readonly #store: GalleryStore;
  readonly #index: VectorIndex;
  readonly #keeper: IndexKeeper;
  #state: 'new' | 'open' | 'closed' = 'new';
  #indexReport: IndexOpenReport | null = null;

  constructor(deps: GalleryDeps) {
    if (deps.index.dim !== deps.dim) throw new RangeError(`Gallery: index dim ${deps.index.dim} != model dim ${deps.dim}`);
    this.modelId = deps.modelId;
    this.dim = deps.dim;
    this.#store = deps.store;
    this.#index = deps.index;
    this.#keeper = new IndexKeeper(deps.store, deps.index, deps.modelId, deps.savePolicy, deps.logger);
  }

  /** Binds a new gallery to the model (or refuses a different one), then loads or rebuilds the index. */
  async init(): Promise<IndexOpenReport> {
    if (this.#state !== 'new') throw new Error('Gallery.init: already initialised');
    await bindModel(this.#store, this.modelId, this.dim);
    this.#indexReport = await this.#keeper.open();
    this.#state = 'open';
    return this.#indexReport;
  }

  /** How the index was obtained at open: loaded from its file, or rebuilt (and why). */
  get indexReport(): IndexOpenReport | null {
    return this.#indexReport;
  }

  async createIdentity(input: NewIdentity): Promise<Identity> {
    this.#assertOpen();
    const rec = {
      id: input.id === undefined ? randomUUID() : checkImportedId(input.id), name: checkName(input.name),
      externalId: checkExternalId(input.externalId), metadata: checkMetadata(input.metadata),
      createdAt: input.createdAt ?? new Date().toISOString(),
    };
    return this.#keeper.write(() => this.#store.transaction(async (tx) => {
      if (input.id !== undefined && (await tx.getIdentity(rec.id))) {
        throw new GalleryError('invalid_argument', `an identity with id "${rec.id}" already exists`, { identityId: rec.id });
      }
      if (rec.externalId !== null) await this.#assertExternalIdFree(tx, rec.externalId, null);
      const created = await tx.insertIdentity(rec);
      await tx.bumpStateVersion();
      return toIdentity(created);
    }), () => {});
  }

  async getIdentity(id: string): Promise<Identity> {
    this.#assertOpen();
    return toIdentity(await this.#store.read((tx) => mustIdentity(tx, id)));
  }

  async getIdentityByExternalId(externalId: string): Promise<Identity> {
    this.#assertOpen();
    const ext = checkExternalId(externalId)!;
    const rec = await this.#store.read((tx) => tx.getIdentityByExternalId(ext));
    if (!rec) throw new GalleryError('identity_not_found', `no identity has external id "${ext}"`, { externalId: ext });
    return toIdentity(rec);
  }

  /** Identities in creation order; stable under concurrent inserts and deletes (keyset on the internal id). */
  async listIdentities(opts: { limit?: number; cursor?: string | null } = {}): Promise<Page<Identity>> {
    this.#assertOpen();
    const limit = checkLimit(opts.limit, 100);
    const after = decodeCursor(opts.cursor);
    const rows = await this.#store.read((tx) => tx.listIdentities(after, limit + 1));
    const items = rows.slice(0, limit);
    const nextCursor = rows.length > limit ? encodeCursor(items[items.length - 1].label) : null;
    return { items: items.map(toIdentity), nextCursor };
  }

  async updateIdentity(id: string, patch: IdentityPatch): Promise<Identity> {
    this.#assertOpen();
    const p = checkPatch(patch);
    return this.#keeper.write(() => this.#store.transaction(async (tx) => {
      const rec = await mustIdentity(tx, id);
      if (p.externalId != null && p.externalId !== rec.externalId) await this.#assertExternalIdFree(tx, p.externalId, rec.id);
      const updated = await tx.updateIdentity(rec.label, p, new Date().toISOString());
      await tx.bumpStateVersion();
      return toIdentity(updated);
    }), () => {});
  }

  /** Deletes the identity with its faces, crops and center, and drops it from the index. */
  async deleteIdentity(id: string): Promise<void> {
    this.#assertOpen();
    await this.#keeper.write(() => this.#store.transaction(async (tx) => {
      const rec = await mustIdentity(tx, id);
      await tx.deleteIdentity(rec.label);
      await tx.bumpStateVersion();
      return rec.label;
    }), (label, index) => { index.remove(label); });
  }

  /** Enrols faces for one identity; each face gets its own result (added, duplicate_image or rejected). */
  async addFaces(identityId: string, faces: readonly NewFace[]): Promise<AddFacesResult> {
    this.#assertOpen();
    const checked = checkFaceList(faces).map((f): NewFace | GalleryError => {
      try {
        return checkNewFace(f, this.dim, this.modelId);
      } catch (err) {
        if (err instanceof GalleryError) return err;
        throw err;
      }
    });
    const out = await this.#keeper.write(() => this.#store.transaction(async (tx) => {
      const ident = await mustIdentity(tx, identityId);
      let center: CenterState | null = await tx.getCenter(ident.label);
      const seen = new Map<string, string>(); // image sha -> face id, for repeats within this call
      const results: AddFaceResult[] = [];
      for (const f of checked) {
        if (f instanceof GalleryError) {
          results.push({ status: 'rejected', code: f.code, message: f.message });
          continue;
        }
        const existing = seen.get(f.imageSha256) ?? (await tx.findFaceByImage(ident.label, f.imageSha256));
        if (existing) {
          results.push({ status: 'duplicate_image', imageSha256: f.imageSha256, existingFaceId: existing });
          continue;
        }
        const face = await tx.insertFace({
          id: randomUUID(), identityLabel: ident.label, embedding: f.embedding, modelId: this.modelId, detScore: f.detScore,
          box: f.box, imageSha256: f.imageSha256, crop: f.crop ?? null, createdAt: new Date().toISOString(),
        });
        center = addToCenter(center, f.embedding);
        seen.set(f.imageSha256, face.id);
        results.push({ status: 'added', face: toFace(face) });
      }
      const changed = seen.size > 0 && center !== null;
      if (changed) {
        await tx.putCenter(ident.label, center!);
        await tx.bumpStateVersion();
      }
      const identity = toIdentity((await tx.getIdentity(identityId))!);
      return { identity, results, label: ident.label, center: changed ? center!.center : null };
    }), (r, index) => { if (r.center) index.upsert(r.label, r.center); });
    return { identity: out.identity, results: out.results };
  }

  /** One identity with every face's embedding and crop, read consistently (for export and backup). */
  async snapshotIdentity(identityId: string): Promise<{ identity: Identity; faces: { face: Face; embedding: Float32Array; crop: Buffer | null }[] }> {
    this.#assertOpen();
    return this.#store.read(async (tx) => {
      const rec = await mustIdentity(tx, identityId);
      const rows = await tx.listFaces(rec.label);
      const embeddings = await tx.faceEmbeddings(rec.label); // same seq order as listFaces
      const faces = [];
      for (const [i, row] of rows.entries()) faces.push({ face: toFace(row), embedding: embeddings[i], crop: await tx.getFaceCrop(row.id) });
      return { identity: toIdentity(rec), faces };
    });
  }

  async listFaces(identityId: string): Promise<Face[]> {
    this.#assertOpen();
    const rows = await this.#store.read(async (tx) => tx.listFaces((await mustIdentity(tx, identityId)).label));
    return rows.map(toFace);
  }

  async getFace(identityId: string, faceId: string): Promise<Face> {
    this.#assertOpen();
    return toFace(await this.#store.read((tx) => mustFace(tx, identityId, faceId)));
  }

  /** The aligned crop kept at enrolment, or null when it was not kept. */
  async getFaceCrop(identityId: string, faceId: string): Promise<Buffer | null> {
    this.#assertOpen();
    return this.#store.read(async (tx) => tx.getFaceCrop((await mustFace(tx, identityId, faceId)).id));
  }

  /**
   * Deletes one face and recomputes the identity's center exactly from the remaining faces. With no face left
   * the identity keeps existing but has no center and leaves the index. Returns the updated identity.
   */
  async deleteFace(identityId: string, faceId: string): Promise<Identity> {
    this.#assertOpen();
    const out = await this.#keeper.write(() => this.#store.transaction(async (tx) => {
      const face = await mustFace(tx, identityId, faceId);
      await tx.deleteFace(face.id);
      const center = centerFromEmbeddings(await tx.faceEmbeddings(face.identityLabel));
      if (center) await tx.putCenter(face.identityLabel, center);
      else await tx.deleteCenter(face.identityLabel);
      await tx.bumpStateVersion();
      return { identity: toIdentity((await tx.getIdentity(identityId))!), label: face.identityLabel, center: center?.center ?? null };
    }), (r, index) => {
      if (r.center) index.upsert(r.label, r.center);
      else index.remove(r.label);
    });
    return out.identity;
  }

  /** The k identities whose centers are most similar to the embedding, best first. */
  async search(embedding: Float32Array, k: number): Promise<SearchHit[]> {
    this.#assertOpen();
    const hits = this.#index.search(checkEmbedding(embedding, this.dim, this.modelId), checkK(k));
    if (hits.length === 0) return [];
    const recs = await this.#store.read((tx) => tx.getIdentitiesByLabels(hits.map((h) => h.label)));
    const byLabel = new Map(recs.map((r) => [r.label, r]));
    // An identity deleted between the index lookup and this read is simply absent.
    return hits.flatMap((h) => {
      const rec = byLabel.get(h.label);
      return rec ? [{ identity: toIdentity(rec), similarity: Math.max(-1, Math.min(1, h.similarity)) }] : [];
    });
  }

  /** The identity's unit-length center and how many faces it averages; null when it has no faces. */
  async centerOf(identityId: string): Promise<{ center: Float32Array; count: number } | null> {
    this.#assertOpen();
    const c = await this.#store.read(async (tx) => tx.getCenter((await mustIdentity(tx, identityId)).label));
    return c ? { center: c.center, count: c.count } : null;
  }

  async stats(): Promise<GalleryStats> {
    this.#assertOpen();
    const s = await this.#store.read(async (tx) => ({
      meta: await tx.getMeta(), identities: await tx.countIdentities(), faces: await tx.countFaces(), centers: await tx.countCenters(),
    }));
    return {
      modelId: this.modelId, dim: this.dim, stateVersion: s.meta.stateVersion, identities: s.identities,
      faces: s.faces.total, facesWithoutCrop: s.faces.withoutCrop, centers: s.centers, indexed: this.#index.size,
      unsavedIndexChanges: this.#keeper.unsavedChanges,
    };
  }

  /** Persists the index now (e.g. before a planned shutdown); close() does it too. */
  async save(): Promise<void> {
    this.#assertOpen();
    await this.#keeper.save();
  }

  /** Rebuilds the index from the stored centers (maintenance; normally open() decides this). */
  async rebuildIndex(): Promise<void> {
    this.#assertOpen();
    await this.#keeper.rebuild();
  }

  /** Saves unsaved index changes and closes the store. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    if (wasOpen) await this.#keeper.close();
    await this.#store.close();
  }

  #assertOpen(): void {
    if (this.#state !== 'open') throw new GalleryError('gallery_closed', `the gallery is ${this.#state === 'new' ? 'not initialised' : 'closed'}`);
  }

  async #assertExternalIdFree(tx: StoreTx, externalId: string, selfId: string | null): Promise<void> {
    const other = await tx.getIdentityByExternalId(externalId);
    if (other && other.id !== selfId) {
      throw new GalleryError('external_id_conflict', `external id "${externalId}" is already used by identity ${other.id}`,
        { externalId, identityId: other.id });
    }
  }
}

function checkImportedId(id: unknown): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,100}$/.test(id)) {
    throw new GalleryError('invalid_argument', 'an imported identity id must be 1-100 characters of [A-Za-z0-9_-]');
  }
  return id;
}

async function mustIdentity(tx: StoreTx, id: string): Promise<IdentityRecord> {
  const rec = typeof id === 'string' ? await tx.getIdentity(id) : null;
  if (!rec) throw new GalleryError('identity_not_found', `no identity with id "${id}"`, { identityId: id });
  return rec;
}

async function mustFace(tx: StoreTx, identityId: string, faceId: string): Promise<FaceRecord> {
  const ident = await mustIdentity(tx, identityId);
  const face = typeof faceId === 'string' ? await tx.getFace(faceId) : null;
  if (!face || face.identityLabel !== ident.label) {
    throw new GalleryError('face_not_found', `identity ${identityId} has no face "${faceId}"`, { identityId, faceId });
  }
  return face;
}

// Named mappers: the internal label and seq never leave the gallery.
function toIdentity(r: IdentityRecord): Identity {
  return { id: r.id, name: r.name, externalId: r.externalId, metadata: r.metadata, faceCount: r.faceCount, createdAt: r.createdAt, updatedAt: r.updatedAt };
}

function toFace(r: FaceRecord): Face {
  return { id: r.id, identityId: r.identityId, modelId: r.modelId, detScore: r.detScore, box: r.box, imageSha256: r.imageSha256, hasCrop: r.hasCrop, createdAt: r.createdAt };
}
