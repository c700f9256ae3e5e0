// Gallery rules: enroll faces per image, open-set search with an explicit unknown, verify against a center.
import { ApiError } from '../errors.ts';
import type { Gallery } from '../../gallery/gallery.ts';
import type { Identity, NewFace } from '../../gallery/types.ts';
import type { FacePipeline, EmbeddedFace } from './face-pipeline.ts';
import { encodeJpeg } from '../adapters/sharp-decoder.ts';
import { dot } from '../../gallery/center-math.ts';
import type { NamedThreshold } from './verify.ts';

export type MultiFacePolicy = 'reject' | 'largest';

export interface EnrollItemResult {
  index: number;
  status: 'added' | 'failed';
  face_id?: string;
  error?: { code: string; message: string };
  possible_duplicate_of?: { identity_id: string; name: string; similarity: number };
}

export interface Match {
  identity: Identity;
  similarity: number;
}

export interface SearchFace {
  face: EmbeddedFace;
  matches: Match[];
  best: Match | null; // null means unknown: no identity reaches the threshold
}

export class RecognitionService {
  constructor(
    private readonly pipeline: FacePipeline,
    private readonly gallery: Gallery,
    private readonly opts: { keepCrops: boolean },
  ) {}

  /** One embedded face per image (or a per-image error), then one gallery write for all of them. */
  async enroll(identityId: string, images: readonly Buffer[], policy: MultiFacePolicy, threshold: NamedThreshold): Promise<{ identity: Identity; results: EnrollItemResult[] }> {
    await this.gallery.getIdentity(identityId); // 404 before any image work
    const results: EnrollItemResult[] = images.map((_, index) => ({ index, status: 'failed' }));
    // Images are analysed concurrently (the detector pool bounds the parallelism); order is kept.
    const staged = (await Promise.all(images.map(async (bytes, index) => {
      try {
        const { decoded, faces } = await this.pipeline.analyze(bytes);
        if (faces.length === 0) throw new ApiError('no_face', 'no face found in the image');
        if (faces.length > 1 && policy === 'reject') {
          throw new ApiError('multiple_faces', `${faces.length} faces found; enroll one face per image or pass on_multiple_faces=largest`);
        }
        const [face] = await this.pipeline.embed(decoded.image, faces.slice(0, 1));
        const dup = await this.nearestOther(face.embedding, identityId, threshold.value);
        if (dup) results[index].possible_duplicate_of = dup;
        const crop = this.opts.keepCrops ? await encodeJpeg(face.crop) : null;
        const staged: NewFace = { embedding: face.embedding, detScore: face.score, box: face.box, imageSha256: decoded.sha256, crop };
        return { index, face: staged };
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        results[index].error = { code: e.code, message: e.message };
        return null;
      }
    }))).filter((s): s is { index: number; face: NewFace } => s !== null);
    if (staged.length === 0) return { identity: await this.gallery.getIdentity(identityId), results };
    const added = await this.gallery.addFaces(identityId, staged.map((s) => s.face));
    added.results.forEach((r, i) => {
      const out = results[staged[i].index];
      if (r.status === 'added') {
        out.status = 'added';
        out.face_id = r.face.id;
      } else if (r.status === 'duplicate_image') {
        out.error = { code: 'duplicate_image', message: `this image is already enrolled for the identity as face ${r.existingFaceId}` };
      } else {
        out.error = { code: r.code, message: r.message };
      }
    });
    return { identity: added.identity, results };
  }

  /** A different identity whose center is at least `threshold` similar: a warning, not an error. */
  private async nearestOther(embedding: Float32Array, identityId: string, threshold: number) {
    const hits = await this.gallery.search(embedding, 2);
    const other = hits.find((h) => h.identity.id !== identityId);
    if (!other || other.similarity < threshold) return undefined;
    return { identity_id: other.identity.id, name: other.identity.name, similarity: round6(other.similarity) };
  }

  async search(bytes: Buffer, o: { k: number; maxFaces?: number; minScore?: number; threshold: NamedThreshold }) {
    const { decoded, faces } = await this.pipeline.analyze(bytes, { maxFaces: o.maxFaces, minScore: o.minScore });
    const embedded = await this.pipeline.embed(decoded.image, faces);
    const out: SearchFace[] = [];
    for (const face of embedded) {
      const matches = (await this.gallery.search(face.embedding, o.k)).map((h) => ({ identity: h.identity, similarity: round6(h.similarity) }));
      out.push({ face, matches, best: matches[0] && matches[0].similarity >= o.threshold.value ? matches[0] : null });
    }
    return { decoded, faces: out };
  }

  async verifyIdentity(identityId: string, bytes: Buffer, threshold: NamedThreshold, minScore?: number) {
    const identity = await this.gallery.getIdentity(identityId);
    const center = await this.gallery.centerOf(identityId);
    if (!center) throw new ApiError('no_enrolled_faces', `identity ${identityId} has no enrolled faces to verify against`);
    const { decoded, faces } = await this.pipeline.analyze(bytes, { minScore });
    if (faces.length === 0) throw new ApiError('no_face', 'no face found in the image');
    const [face] = await this.pipeline.embed(decoded.image, faces.slice(0, 1));
    const similarity = round6(dot(face.embedding, center.center));
    return { identity, face, facesFound: faces.length, similarity, match: similarity >= threshold.value, faceCount: center.count };
  }
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
