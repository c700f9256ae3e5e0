// Routes for identities and their faces: CRUD, multi-image enrollment and face deletion.
import type { Gallery } from '../../../gallery/gallery.ts';
import type { RecognitionService, MultiFacePolicy } from '../../services/recognition.ts';
import type { NamedThreshold } from '../../services/verify.ts';
import { readImages, type ImageLimits } from '../images.ts';
import { identityJson, faceJson } from '../mappers.ts';
import { ApiError } from '../../errors.ts';
import { isGalleryError } from '../../../gallery/errors.ts';
import { answer, route, type RouteDef } from '../route.ts';

export interface IdentityRouteDeps {
  gallery: Gallery;
  recognition: RecognitionService;
  limits: ImageLimits;
  thresholds: Record<string, NamedThreshold>;
}

const name = { type: 'string', minLength: 1, maxLength: 200 } as const;
const externalId = { type: ['string', 'null'], minLength: 1, maxLength: 200 } as const;
const metadata = { type: ['object', 'null'], maxProperties: 64 } as const;
const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 100 } }, required: ['id'] } as const;
const faceParams = {
  type: 'object', properties: { id: { type: 'string', maxLength: 100 }, faceId: { type: 'string', maxLength: 100 } }, required: ['id', 'faceId'],
} as const;

type Id = { id: string };
type IdentityFields = { name?: string; external_id?: string | null; metadata?: Record<string, unknown> | null };

export const identityRoutes = (deps: IdentityRouteDeps): RouteDef[] => {
  const { gallery, recognition, limits } = deps;
  return [
    route<unknown, unknown, IdentityFields & { name: string }>({
      method: 'POST', path: '/v1/identities',
      schema: { body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name, external_id: externalId, metadata } } },
      handler: async ({ body }) => {
        const identity = await gallery.createIdentity({ name: body.name, externalId: body.external_id ?? null, metadata: body.metadata ?? null });
        return answer(201, identityJson(identity));
      },
    }),

    route<{ limit?: number; cursor?: string; external_id?: string }>({
      method: 'GET', path: '/v1/identities',
      schema: {
        querystring: {
          type: 'object', additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 }, cursor: { type: 'string', maxLength: 200 }, external_id: { type: 'string', maxLength: 200 } },
        },
      },
      handler: async ({ query }) => {
        if (query.external_id !== undefined) {
          const one = await gallery.getIdentityByExternalId(query.external_id).catch((e) => {
            if (isGalleryError(e, 'identity_not_found')) return null;
            throw e;
          });
          return { items: one ? [identityJson(one)] : [], next_cursor: null };
        }
        const page = await gallery.listIdentities({ limit: query.limit ?? 100, cursor: query.cursor ?? null });
        return { items: page.items.map(identityJson), next_cursor: page.nextCursor };
      },
    }),

    route<unknown, Id>({
      method: 'GET', path: '/v1/identities/:id', schema: { params: idParams },
      handler: async ({ params }) => identityJson(await gallery.getIdentity(params.id)),
    }),

    route<unknown, Id, IdentityFields>({
      method: 'PATCH', path: '/v1/identities/:id',
      schema: { params: idParams, body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name, external_id: externalId, metadata } } },
      handler: async ({ params, body }) => identityJson(await gallery.updateIdentity(params.id, {
        name: body.name, externalId: body.external_id, metadata: body.metadata,
      })),
    }),

    route<unknown, Id>({
      method: 'DELETE', path: '/v1/identities/:id', schema: { params: idParams },
      handler: async ({ params }) => {
        await gallery.deleteIdentity(params.id);
        return answer(204);
      },
    }),

    route<{ on_multiple_faces?: MultiFacePolicy }, Id>({
      method: 'POST', path: '/v1/identities/:id/faces', access: 'admin', heavy: true, images: ['images', 'image'],
      schema: {
        params: idParams,
        querystring: {
          type: 'object', additionalProperties: false,
          properties: { on_multiple_faces: { type: 'string', enum: ['reject', 'largest'], description: 'what to do with an image that shows several faces (default reject)' } },
        },
      },
      handler: async ({ req, params, query }) => {
        await gallery.getIdentity(params.id);
        const images = await readImages(req, ['images', 'image'], limits);
        const list = [...images.get('images')!, ...images.get('image')!];
        if (list.length === 0) throw new ApiError('missing_field', 'send one or more images in field "images"');
        // The duplicate warning uses the strictest calibrated threshold, so it fires on likely matches only.
        const warnAt = deps.thresholds['far_1e-3'] ?? deps.thresholds.default;
        const out = await recognition.enroll(params.id, list, query.on_multiple_faces ?? 'reject', warnAt);
        const added = out.results.filter((r) => r.status === 'added').length;
        return answer(added > 0 ? 201 : 422, { identity: identityJson(out.identity), added, failed: out.results.length - added, results: out.results });
      },
    }),

    route<unknown, Id>({
      method: 'GET', path: '/v1/identities/:id/faces', schema: { params: idParams },
      handler: async ({ params }) => ({ items: (await gallery.listFaces(params.id)).map(faceJson) }),
    }),

    route<unknown, Id & { faceId: string }>({
      method: 'DELETE', path: '/v1/identities/:id/faces/:faceId', schema: { params: faceParams },
      handler: async ({ params }) => {
        await gallery.deleteFace(params.id, params.faceId);
        return answer(204);
      },
    }),
  ];
};
