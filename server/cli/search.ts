// `irface search <image>`: searches the gallery for every face in a photo and prints JSON.
import { readFileSync } from 'node:fs';
import { withGallery } from './context.ts';
import { roundBox } from '../services/face-pipeline.ts';

export async function searchCommand(image: string, k: number) {
  const bytes = readFileSync(image);
  return withGallery('irface search', async ({ recognition, threshold }) => {
    const { faces } = await recognition.search(bytes, { k, threshold });
    return {
      threshold: threshold.value,
      faces: faces.map((f) => ({
        box: roundBox(f.face.box),
        unknown: f.best === null,
        matches: f.matches.map((m) => ({ id: m.identity.id, name: m.identity.name, external_id: m.identity.externalId, similarity: m.similarity })),
      })),
    };
  });
}
