// Binds a gallery to one embedding model: recorded on first open, and any other model refused afterwards.
//
// Embeddings of different models live in unrelated spaces; comparing them gives confident nonsense rather
// than an error, so a mismatch must stop the server at startup and point to `irface reindex`.

import { GalleryError } from './errors.ts';
import type { GalleryMeta, GalleryStore } from './types.ts';

/** Records modelId/dim in a new gallery, or throws model_mismatch / dimension_mismatch for an existing one. */
export async function bindModel(store: GalleryStore, modelId: string, dim: number): Promise<GalleryMeta> {
  if (typeof modelId !== 'string' || modelId.length === 0) throw new RangeError('bindModel: modelId must be a non-empty string');
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`bindModel: dim must be a positive integer, got ${dim}`);
  const meta = await store.transaction(async (tx) => {
    const m = await tx.getMeta();
    if (m.modelId !== null) return m;
    await tx.setModel(modelId, dim);
    return { ...m, modelId, dim };
  });
  if (meta.modelId !== modelId) {
    throw new GalleryError('model_mismatch',
      `the gallery was enrolled with model "${meta.modelId}" but the server is configured with model "${modelId}"; ` +
      'embeddings of different models are not comparable. Run `irface reindex` to re-embed the kept face crops ' +
      `with "${modelId}", or configure model "${meta.modelId}" again.`,
      { galleryModelId: meta.modelId, configuredModelId: modelId });
  }
  if (meta.dim !== dim) {
    throw new GalleryError('dimension_mismatch',
      `the gallery stores ${meta.dim}-d embeddings for model "${meta.modelId}", but ${dim}-d were configured`,
      { expected: meta.dim, got: dim });
  }
  return meta;
}
