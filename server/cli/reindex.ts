// `irface reindex`: re-embeds every stored aligned crop with the configured model and switches the gallery to it.
import sharp from 'sharp';
import { parseConfig } from '../config.ts';
import { buildRuntime } from '../compose.ts';
import { lockDataDir } from '../adapters/data-lock.ts';
import { openGalleryStore } from '../../gallery/open.ts';
import { reindex, reindexSummary } from '../../gallery/reindex.ts';
import { progress } from './progress.ts';

export async function reindexCommand(opts: { dropFacesWithoutCrop: boolean }) {
  const config = parseConfig();
  const lock = lockDataDir(config.dataDir, 'irface reindex');
  const store = await openGalleryStore(config);
  const runtime = await buildRuntime(config, (m) => process.stderr.write(`irface: ${m}\n`));
  try {
    const { card } = runtime.model;
    const summary = await reindexSummary(store);
    if (summary.modelId === card.id) return { status: 'up_to_date', model: card.id, faces: summary.faces };
    if (summary.facesWithoutCrop > 0 && !opts.dropFacesWithoutCrop) {
      throw new Error(`${summary.facesWithoutCrop} of ${summary.faces} faces were enrolled with IRFACE_KEEP_CROPS=false, so they ` +
        `cannot be re-embedded with "${card.id}". Re-enroll them from the original photos, or rerun with ` +
        '--drop-faces-without-crop to remove them.');
    }
    const tick = progress('reindex', summary.faces - summary.facesWithoutCrop);
    const { width, height } = card.input;
    const result = await reindex(store, {
      modelId: card.id,
      dim: card.output.dim,
      dropFacesWithoutCrop: opts.dropFacesWithoutCrop,
      embed: async (crop, face) => {
        const { data, info } = await sharp(crop).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        if (info.width !== width || info.height !== height) {
          // Crops are stored in the old model's alignment; a model with another crop geometry needs the photos.
          throw new Error(`face ${face.id}: stored crop is ${info.width}x${info.height} but "${card.id}" takes ${width}x${height}; re-enroll from photos`);
        }
        const [emb] = await runtime.pipeline.embedCrops([{ data: new Uint8Array(data), width, height }]);
        tick();
        return emb;
      },
    });
    return { status: 'reindexed', from: summary.modelId, to: card.id, ...result };
  } finally {
    await runtime.close();
    await store.close();
    lock.release();
  }
}
