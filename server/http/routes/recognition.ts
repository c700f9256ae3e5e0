// Routes that compare photos with the gallery: 1:N search and 1:1 verify against an enrolled identity.
import type { RecognitionService } from '../../services/recognition.ts';
import type { NamedThreshold } from '../../services/verify.ts';
import { readImages, single, type ImageLimits } from '../images.ts';
import { identityJson, detectedFaceJson, thresholdJson } from '../mappers.ts';
import { resolveThreshold, thresholdParam } from '../thresholds.ts';
import { route, type RouteDef } from '../route.ts';

export interface RecognitionRouteDeps {
  recognition: RecognitionService;
  limits: ImageLimits;
  thresholds: Record<string, NamedThreshold>;
  modelId: string;
}

const minScore = { type: 'number', minimum: 0, maximum: 1, description: 'minimum detection score (default from config)' } as const;

export const recognitionRoutes = (deps: RecognitionRouteDeps): RouteDef[] => {
  const { recognition, limits } = deps;
  return [
    route<{ k?: number; threshold?: string; max_faces?: number; min_score?: number }>({
      method: 'POST', path: '/v1/search', access: 'recognize', heavy: true, images: ['image'],
      schema: {
        querystring: {
          type: 'object', additionalProperties: false,
          properties: {
            k: { type: 'integer', minimum: 1, maximum: 100, description: 'identities returned per face (default 5)' },
            threshold: thresholdParam,
            max_faces: { type: 'integer', minimum: 1, maximum: 100, description: 'search only the N largest faces' },
            min_score: minScore,
          },
        },
      },
      handler: async ({ req, query }) => {
        const threshold = resolveThreshold(query.threshold, deps.thresholds);
        const bytes = single(await readImages(req, ['image'], limits), 'image');
        const { decoded, faces } = await recognition.search(bytes, {
          k: query.k ?? 5, maxFaces: query.max_faces, minScore: query.min_score, threshold,
        });
        return {
          model: deps.modelId,
          threshold: thresholdJson(threshold),
          image: { width: decoded.image.width, height: decoded.image.height, format: decoded.format },
          faces: faces.map((f) => ({
            ...detectedFaceJson(f.face),
            unknown: f.best === null,
            best: f.best ? { identity: identityJson(f.best.identity), similarity: f.best.similarity } : null,
            matches: f.matches.map((m) => ({ identity: identityJson(m.identity), similarity: m.similarity, match: m.similarity >= threshold.value })),
          })),
        };
      },
    }),

    route<{ threshold?: string; min_score?: number }, { id: string }>({
      method: 'POST', path: '/v1/identities/:id/verify', access: 'recognize', heavy: true, images: ['image'],
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 100 } }, required: ['id'] },
        querystring: { type: 'object', additionalProperties: false, properties: { threshold: thresholdParam, min_score: minScore } },
      },
      handler: async ({ req, query, params }) => {
        const threshold = resolveThreshold(query.threshold, deps.thresholds);
        const bytes = single(await readImages(req, ['image'], limits), 'image');
        const r = await recognition.verifyIdentity(params.id, bytes, threshold, query.min_score);
        return {
          match: r.match,
          similarity: r.similarity,
          threshold: thresholdJson(threshold),
          model: deps.modelId,
          identity: identityJson(r.identity),
          compared_with: { kind: 'class_center', faces: r.faceCount },
          face: { ...detectedFaceJson(r.face), faces_found: r.facesFound, selection: r.facesFound > 1 ? 'largest' : 'only' },
        };
      },
    }),
  ];
};
