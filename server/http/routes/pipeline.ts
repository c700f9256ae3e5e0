// Routes for stateless face operations: detect, embed and 1:1 verify.
import type { FacePipeline } from '../../services/face-pipeline.ts';
import { namedPoints, roundBox } from '../../services/face-pipeline.ts';
import { verifyPair, type NamedThreshold } from '../../services/verify.ts';
import { readImages, single, type ImageLimits } from '../images.ts';
import { resolveThreshold, thresholdParam } from '../thresholds.ts';
import { route, type RouteDef } from '../route.ts';

export interface PipelineRouteDeps {
  pipeline: FacePipeline;
  limits: ImageLimits;
  thresholds: Record<string, NamedThreshold>;
}

const detectQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    min_score: { type: 'number', minimum: 0, maximum: 1, description: 'minimum detection score (default from config)' },
    max_faces: { type: 'integer', minimum: 1, maximum: 100, description: 'keep only the N largest faces' },
  },
} as const;

const verifyQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    min_score: detectQuery.properties.min_score,
    threshold: thresholdParam,
  },
} as const;

interface DetectQuery { min_score?: number; max_faces?: number }
interface VerifyQuery { min_score?: number; threshold?: string }

export const pipelineRoutes = (deps: PipelineRouteDeps): RouteDef[] => {
  const { pipeline, limits } = deps;
  return [
    route<DetectQuery>({
      method: 'POST', path: '/v1/detect', ...RECOGNIZE_HEAVY, images: ['image'], schema: { querystring: detectQuery },
      handler: async ({ req, query }) => {
        const bytes = single(await readImages(req, ['image'], limits), 'image');
        const { decoded, faces } = await pipeline.analyze(bytes, { minScore: query.min_score, maxFaces: query.max_faces });
        return {
          image: { width: decoded.image.width, height: decoded.image.height, format: decoded.format },
          faces: faces.map((f) => ({ box: roundBox(f.box), score: round4(f.score), landmarks: namedPoints(f.points) })),
        };
      },
    }),
    route<DetectQuery>({
      method: 'POST', path: '/v1/embed', ...RECOGNIZE_HEAVY, images: ['image'], schema: { querystring: detectQuery },
      handler: async ({ req, query }) => {
        const bytes = single(await readImages(req, ['image'], limits), 'image');
        const { decoded, faces } = await pipeline.analyze(bytes, { minScore: query.min_score, maxFaces: query.max_faces });
        const embedded = await pipeline.embed(decoded.image, faces);
        return {
          model: pipeline.modelId,
          image: { width: decoded.image.width, height: decoded.image.height, format: decoded.format },
          faces: embedded.map((f) => ({
            box: roundBox(f.box),
            score: round4(f.score),
            landmarks: namedPoints(f.points),
            embedding: Array.from(f.embedding, (v) => Math.round(v * 1e7) / 1e7),
          })),
        };
      },
    }),
    route<VerifyQuery>({
      method: 'POST', path: '/v1/verify', ...RECOGNIZE_HEAVY, images: ['image_a', 'image_b'], schema: { querystring: verifyQuery },
      handler: async ({ req, query }) => {
        const images = await readImages(req, ['image_a', 'image_b'], limits);
        const threshold = resolveThreshold(query.threshold, deps.thresholds);
        return verifyPair(pipeline, [
          { name: 'image_a', bytes: single(images, 'image_a') },
          { name: 'image_b', bytes: single(images, 'image_b') },
        ], threshold, { minScore: query.min_score });
      },
    }),
  ];
};

const RECOGNIZE_HEAVY = { access: 'recognize', heavy: true } as const;
const round4 = (v: number) => Math.round(v * 1e4) / 1e4;
