// Copies a whole gallery from one store to another (SQLite -> PostgreSQL when one machine is outgrown, and
// back), keeping identity and face ids, timestamps, embeddings, crops and centers; counts are checked after.
//
// Internal labels are not copied (the target numbers its own); every replica rebuilds its index at its next start
// since the target's index marker cannot match. The source should not change meanwhile (stop the writers).

import { GalleryError } from './errors.ts';
import type { GalleryStore, StoreTx } from './types.ts';

const PAGE = 200; // identities per target transaction

export interface CopyCounts {
  identities: number;
  faces: number;
  facesWithoutCrop: number;
  centers: number;
}

export interface CopyReport {
  modelId: string;
  dim: number;
  source: CopyCounts;
  target: CopyCounts;
}

async function counts(tx: StoreTx): Promise<CopyCounts> {
  const faces = await tx.countFaces();
  return { identities: await tx.countIdentities(), faces: faces.total, facesWithoutCrop: faces.withoutCrop, centers: await tx.countCenters() };
}

/** Copies everything in `from` into the empty store `to`; throws when `to` is not empty or the counts differ after. */
export async function copyGallery(from: GalleryStore, to: GalleryStore, onProgress: (done: number, total: number) => void = () => {}): Promise<CopyReport> {
  const src = await from.read(async (tx) => ({ meta: await tx.getMeta(), counts: await counts(tx) }));
  if (src.meta.modelId === null || src.meta.dim === null) throw new GalleryError('invalid_argument', 'the source gallery was never opened by a server: nothing to copy');
  const { modelId, dim } = src.meta;
  await to.transaction(async (tx) => {
    const c = await counts(tx);
    if (c.identities > 0 || c.faces > 0) {
      throw new GalleryError('invalid_argument', `the target gallery is not empty (${c.identities} identities, ${c.faces} faces); copy into an empty one`);
    }
    const meta = await tx.getMeta();
    if (meta.modelId !== null && meta.modelId !== modelId) {
      throw new GalleryError('model_mismatch', `the target gallery is bound to model "${meta.modelId}", the source to "${modelId}"`);
    }
    await tx.setModel(modelId, dim);
  });
  let done = 0;
  for (let after = 0; ;) {
    const page = await from.read(async (tx) => {
      const idents = await tx.listIdentities(after, PAGE);
      const out = [];
      for (const ident of idents) {
        const faces = await tx.listFaces(ident.label);
        const embeddings = await tx.faceEmbeddings(ident.label); // same seq order as listFaces
        const crops = [];
        for (const f of faces) crops.push(await tx.getFaceCrop(f.id));
        out.push({ ident, faces, embeddings, crops, center: await tx.getCenter(ident.label) });
      }
      return out;
    });
    if (page.length === 0) break;
    await to.transaction(async (tx) => {
      for (const { ident, faces, embeddings, crops, center } of page) {
        const created = await tx.insertIdentity({ id: ident.id, name: ident.name, externalId: ident.externalId, metadata: ident.metadata, createdAt: ident.createdAt });
        if (ident.updatedAt !== ident.createdAt) await tx.updateIdentity(created.label, {}, ident.updatedAt);
        for (const [i, f] of faces.entries()) {
          await tx.insertFace({
            id: f.id, identityLabel: created.label, embedding: embeddings[i], modelId: f.modelId, detScore: f.detScore, box: f.box,
            imageSha256: f.imageSha256, crop: crops[i], createdAt: f.createdAt,
          });
        }
        if (center) await tx.putCenter(created.label, center); // the stored sum and count as they are: bit-identical
      }
      await tx.bumpStateVersion();
    });
    after = page[page.length - 1].ident.label;
    done += page.length;
    onProgress(done, src.counts.identities);
  }
  const target = await to.read(counts);
  const report = { modelId, dim, source: src.counts, target };
  if (JSON.stringify(target) !== JSON.stringify(src.counts)) {
    throw new GalleryError('invalid_argument', `copy incomplete: source ${JSON.stringify(src.counts)}, target ${JSON.stringify(target)} ` +
      '(did the source change during the copy?)', { ...report });
  }
  return report;
}
