// Routes for identities and their faces: CRUD, multi-image enrollment and face deletion.
import type { FastifyPluginAsync } from 'fastify';
import type { Gallery } from '../../../gallery/gallery.ts';
import type { RecognitionService, MultiFacePolicy } from '../../services/recognition.ts';
import type { NamedThreshold } from '../../services/verify.ts';
import { readImages, type ImageLimits } from '../images.ts';
import { identityJson, faceJson } from '../mappers.ts';
import { ApiError } from '../../errors.ts';
import { isGalleryError } from '../../../gallery/errors.ts';

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

export const identityRoutes = (deps: IdentityRouteDeps): FastifyPluginAsync => async (app) => {
  const { gallery, recognition, limits } = deps;

  app.post<{ Body: { name: string; external_id?: string | null; metadata?: Record<string, unknown> | null } }>('/v1/identities', {
    schema: { body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name, external_id: externalId, metadata } } },
  }, async (req, reply) => {
    const identity = await gallery.createIdentity({ name: req.body.name, externalId: req.body.external_id ?? null, metadata: req.body.metadata ?? null });
    return reply.status(201).send(identityJson(identity));
  });

  app.get<{ Querystring: { limit?: number; cursor?: string; external_id?: string } }>('/v1/identities', {
    schema: {
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 }, cursor: { type: 'string', maxLength: 200 }, external_id: { type: 'string', maxLength: 200 } },
      },
    },
  }, async (req) => {
    if (req.query.external_id !== undefined) {
      const one = await gallery.getIdentityByExternalId(req.query.external_id).catch((e) => {
        if (isGalleryError(e, 'identity_not_found')) return null;
        throw e;
      });
      return { items: one ? [identityJson(one)] : [], next_cursor: null };
    }
    const page = await gallery.listIdentities({ limit: req.query.limit ?? 100, cursor: req.query.cursor ?? null });
    return { items: page.items.map(identityJson), next_cursor: page.nextCursor };
  });

  app.get<{ Params: { id: string } }>('/v1/identities/:id', { schema: { params: idParams } },
    async (req) => identityJson(await gallery.getIdentity(req.params.id)));

  app.patch<{ Params: { id: string }; Body: { name?: string; external_id?: string | null; metadata?: Record<string, unknown> | null } }>('/v1/identities/:id', {
    schema: { params: idParams, body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name, external_id: externalId, metadata } } },
  }, async (req) => identityJson(await gallery.updateIdentity(req.params.id, {
    name: req.body.name, externalId: req.body.external_id, metadata: req.body.metadata,
  })));

  app.delete<{ Params: { id: string } }>('/v1/identities/:id', { schema: { params: idParams } }, async (req, reply) => {
    await gallery.deleteIdentity(req.params.id);
    return reply.status(204).send();
  });

  app.post<{ Params: { id: string }; Querystring: { on_multiple_faces?: MultiFacePolicy } }>('/v1/identities/:id/faces', {
    config: { access: 'admin', heavy: true },
    schema: {
      params: idParams,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { on_multiple_faces: { type: 'string', enum: ['reject', 'largest'], description: 'what to do with an image that shows several faces (default reject)' } },
      },
    },
  }, async (req, reply) => {
    await gallery.getIdentity(req.params.id);
    const images = (await readImages(req, ['images', 'image'], limits));
    const list = [...images.get('images')!, ...images.get('image')!];
    if (list.length === 0) throw new ApiError('missing_field', 'send one or more images in field "images"');
    // The duplicate warning uses the strictest calibrated threshold, so it fires on likely matches only.
    const warnAt = deps.thresholds['far_1e-3'] ?? deps.thresholds.default;
    const out = await recognition.enroll(req.params.id, list, req.query.on_multiple_faces ?? 'reject', warnAt);
    const added = out.results.filter((r) => r.status === 'added').length;
    return reply.status(added > 0 ? 201 : 422).send({ identity: identityJson(out.identity), added, failed: out.results.length - added, results: out.results });
  });

  app.get<{ Params: { id: string } }>('/v1/identities/:id/faces', { schema: { params: idParams } },
    async (req) => ({ items: (await gallery.listFaces(req.params.id)).map(faceJson) }));

  app.delete<{ Params: { id: string; faceId: string } }>('/v1/identities/:id/faces/:faceId', { schema: { params: faceParams } },
    async (req, reply) => {
      await gallery.deleteFace(req.params.id, req.params.faceId);
      return reply.status(204).send();
    });
};
