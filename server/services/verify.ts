// 1:1 verification of two photos: the largest face on each side, cosine against the card's threshold.
import { ApiError } from '../errors.ts';
import type { FacePipeline, Face, AnalyzeOptions } from './face-pipeline.ts';
import { roundBox } from './face-pipeline.ts';
import type { Threshold } from '../model/card.ts';
import { dot } from '../../gallery/center-math.ts';

export interface VerifySide {
  box: Face['box'];
  score: number;
  faces_found: number;
  selection: 'only' | 'largest';
}

export interface VerifyResult {
  match: boolean;
  similarity: number;
  threshold: { name: string; value: number; method: string };
  model: string;
  faces: Record<string, VerifySide>;
}

export interface NamedThreshold extends Threshold {
  name: string;
}

export async function verifyPair(
  pipeline: FacePipeline,
  images: { name: string; bytes: Buffer }[],
  threshold: NamedThreshold,
  opts: AnalyzeOptions = {},
): Promise<VerifyResult> {
  const analyses = await Promise.all(images.map((img) => pipeline.analyze(img.bytes, opts)));
  analyses.forEach((a, i) => {
    if (a.faces.length === 0) {
      throw new ApiError('no_face', `no face found in "${images[i].name}"`, { field: images[i].name });
    }
  });
  // Faces arrive largest first: with several faces on a side the largest is used and reported.
  const [ea, eb] = await pipeline.embedMany(analyses.map((a) => ({ image: a.decoded.image, face: a.faces[0] })));
  const similarity = dot(ea.embedding, eb.embedding);
  const sides: Record<string, VerifySide> = {};
  analyses.forEach((a, i) => {
    sides[images[i].name] = {
      box: roundBox(a.faces[0].box),
      score: Math.round(a.faces[0].score * 1e4) / 1e4,
      faces_found: a.faces.length,
      selection: a.faces.length > 1 ? 'largest' : 'only',
    };
  });
  return {
    match: similarity >= threshold.value,
    similarity: Math.round(similarity * 1e6) / 1e6,
    threshold: { name: threshold.name, value: threshold.value, method: threshold.method },
    model: pipeline.modelId,
    faces: sides,
  };
}
