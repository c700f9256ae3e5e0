// Named mappers from service objects to the JSON the API returns (snake_case, rounded numbers).
import type { Identity, Face } from '../../gallery/types.ts';
import type { EmbeddedFace } from '../services/face-pipeline.ts';
import { namedPoints, roundBox } from '../services/face-pipeline.ts';
import type { NamedThreshold } from '../services/verify.ts';

export function identityJson(i: Identity) {
  return {
    id: i.id, name: i.name, external_id: i.externalId, metadata: i.metadata,
    face_count: i.faceCount, created_at: i.createdAt, updated_at: i.updatedAt,
  };
}

export function faceJson(f: Face) {
  return {
    id: f.id, identity_id: f.identityId, model: f.modelId, det_score: Math.round(f.detScore * 1e4) / 1e4,
    box: roundBox(f.box), image_sha256: f.imageSha256, has_crop: f.hasCrop, created_at: f.createdAt,
  };
}

export function detectedFaceJson(f: EmbeddedFace) {
  return { box: roundBox(f.box), score: Math.round(f.score * 1e4) / 1e4, landmarks: namedPoints(f.points) };
}

export function thresholdJson(t: NamedThreshold) {
  return { name: t.name, value: t.value, method: t.method };
}
