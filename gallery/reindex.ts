// Primitives for `irface reindex`: re-embed the kept crops with a new model, then switch over in one transaction.
//
// New embeddings are first staged beside the old ones (resumable, in small transactions); the switch
// (embeddings, centers, model id, state_version) then commits at once, so a gallery is never half old model,
// half new. The index is not touched here: its marker names the old model, so the next openGallery rebuilds it.

import { centerFromEmbeddings } from './center-math.ts';
import { GalleryError } from './errors.ts';
import type { Face, GalleryStore, StoreTx } from './types.ts';
import { checkEmbedding } from './validate.ts';

export interface ReindexSummary {
  modelId: string | null;
  dim: number | null;
  faces: number;
  facesWithoutCrop: number; // cannot be re-embedded: no crop was kept at enrolment
}

export async function reindexSummary(store: GalleryStore): Promise<ReindexSummary> {
  return store.read(async (tx) => {
    const meta = await tx.getMeta();
    const counts = await tx.countFaces();
    return { modelId: meta.modelId, dim: meta.dim, faces: counts.total, facesWithoutCrop: counts.withoutCrop };
  });
}

/** Batches of faces that have a crop and no staged embedding for targetModelId yet, in enrolment order. */
export async function* facesToReembed(store: GalleryStore, targetModelId: string, batchSize = 64):
  AsyncGenerator<Array<{ face: Face; crop: Buffer }>> {
  for (let after = 0; ; ) {
    const page = await store.read(async (tx) => {
      const rows = await tx.listFacesWithCrops(after, batchSize);
      return { rows, staged: await tx.stagedFaceIds(targetModelId, rows.map((r) => r.id)) };
    });
    if (page.rows.length === 0) return;
    after = page.rows[page.rows.length - 1].seq;
    const todo = page.rows.filter((r) => r.crop !== null && !page.staged.has(r.id));
    if (todo.length > 0) yield todo.map(({ crop, seq: _seq, identityLabel: _l, ...face }) => ({ face, crop: crop! }));
  }
}

/** Stores new-model embeddings aside until commitReindex; one transaction per batch. */
export async function stageEmbeddings(store: GalleryStore, targetModelId: string, dim: number,
  items: ReadonlyArray<{ faceId: string; embedding: Float32Array }>): Promise<void> {
  const checked = items.map((it) => ({ faceId: it.faceId, embedding: checkEmbedding(it.embedding, dim, targetModelId, `embedding of face ${it.faceId}`) }));
  await store.transaction(async (tx) => {
    for (const it of checked) await tx.stageEmbedding(it.faceId, targetModelId, it.embedding);
  });
}

/** Recomputes every center exactly from the faces' current embeddings (identities without faces get none). */
export async function recomputeAllCenters(tx: StoreTx): Promise<number> {
  await tx.deleteAllCenters();
  const labels = await tx.labelsWithFaces();
  for (const label of labels) await tx.putCenter(label, centerFromEmbeddings(await tx.faceEmbeddings(label))!);
  return labels.length;
}

export interface CommitReindexOptions {
  modelId: string;
  dim: number;
  dropFacesWithoutCrop?: boolean; // they cannot be re-embedded; without this the commit refuses
}

export interface CommitReindexResult {
  facesUpdated: number;
  facesDropped: number;
  centers: number;
  stateVersion: number;
}

/** Switches the gallery to the staged model: embeddings, centers, model id and state_version in one transaction. */
export async function commitReindex(store: GalleryStore, opts: CommitReindexOptions): Promise<CommitReindexResult> {
  return store.transaction(async (tx) => {
    const counts = await tx.countFaces();
    if (counts.withoutCrop > 0 && !opts.dropFacesWithoutCrop) throw cropsMissing(counts.withoutCrop, counts.total, opts.modelId);
    const facesDropped = counts.withoutCrop > 0 ? await tx.deleteFacesWithoutCrop() : 0;
    const total = counts.total - facesDropped;
    const staged = await tx.countStaged(opts.modelId);
    if (staged !== total) {
      throw new GalleryError('reindex_incomplete',
        `${total - staged} of ${total} faces have no staged "${opts.modelId}" embedding yet; stage them before committing`,
        { missing: total - staged, total });
    }
    const facesUpdated = await tx.applyStaged(opts.modelId);
    const centers = await recomputeAllCenters(tx);
    await tx.setModel(opts.modelId, opts.dim);
    await tx.clearStaging();
    return { facesUpdated, facesDropped, centers, stateVersion: await tx.bumpStateVersion() };
  });
}

export interface ReindexOptions extends CommitReindexOptions {
  /** Embeds one aligned crop with the new model. */
  embed: (crop: Buffer, face: Face) => Promise<Float32Array>;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** The whole reindex: check crops, embed and stage every face not yet staged, then commit. Resumable. */
export async function reindex(store: GalleryStore, opts: ReindexOptions): Promise<CommitReindexResult> {
  const summary = await reindexSummary(store);
  if (summary.facesWithoutCrop > 0 && !opts.dropFacesWithoutCrop) {
    throw cropsMissing(summary.facesWithoutCrop, summary.faces, opts.modelId);
  }
  const total = summary.faces - summary.facesWithoutCrop;
  let done = await store.read((tx) => tx.countStaged(opts.modelId));
  for await (const batch of facesToReembed(store, opts.modelId, opts.batchSize)) {
    const items = [];
    for (const { face, crop } of batch) items.push({ faceId: face.id, embedding: await opts.embed(crop, face) });
    await stageEmbeddings(store, opts.modelId, opts.dim, items);
    done += items.length;
    opts.onProgress?.(done, total);
  }
  return commitReindex(store, opts);
}

function cropsMissing(withoutCrop: number, total: number, modelId: string): GalleryError {
  return new GalleryError('crops_missing',
    `${withoutCrop} of ${total} faces were enrolled without keeping their crop and cannot be re-embedded with "${modelId}"; ` +
    're-enrol them from the original images, or drop them explicitly (dropFacesWithoutCrop)',
    { facesWithoutCrop: withoutCrop, faces: total });
}
