// Aligns a face to a model's crop: fit the 5 landmarks to the card's template, then warp.
import { fitSimilarity, similarityRotationDeg, similarityScale, type Point, type Similarity } from './geometry.ts';
import { warpSimilarity, type RgbImage } from './warp.ts';

export interface AlignmentSpec {
  template: readonly Point[];
  width: number;
  height: number;
}

export interface AlignedFace {
  crop: RgbImage;
  transform: Similarity;
  /** In-plane roll of the face in degrees, derived from the fit. */
  rollDeg: number;
  /** Crop pixels per source pixel. */
  scale: number;
}

export function alignFace(image: RgbImage, fivePoints: readonly Point[], spec: AlignmentSpec): AlignedFace {
  if (fivePoints.length !== spec.template.length) {
    throw new Error(`alignment needs ${spec.template.length} points, got ${fivePoints.length}`);
  }
  const transform = fitSimilarity(fivePoints, spec.template);
  return {
    crop: warpSimilarity(image, transform, spec.width, spec.height),
    transform,
    rollDeg: -similarityRotationDeg(transform),
    scale: similarityScale(transform),
  };
}
