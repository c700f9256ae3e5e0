// OpenAPI 3 document at /openapi.json, generated from the same route schemas that validate requests.
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';

const imageBody = (fields: string[]) => {
  const many = fields.includes('images');
  const props = Object.fromEntries(fields.map((f) => [f, many && f === 'images'
    ? { type: 'array', items: { type: 'string', format: 'binary' }, description: 'one or more image files' }
    : { type: 'string', format: 'binary', description: 'image file (JPEG, PNG, WebP or GIF)' }]));
  const b64 = Object.fromEntries(fields.map((f) => [f, many && f === 'images'
    ? { type: 'array', items: { type: 'string', format: 'byte' } }
    : { type: 'string', format: 'byte', description: 'base64 or a data: URL' }]));
  return {
    required: true,
    content: {
      'multipart/form-data': { schema: { type: 'object', properties: props, required: many ? [] : fields } },
      'application/json': { schema: { type: 'object', properties: b64, required: many ? [] : fields } },
    },
  };
};

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'irface',
        version,
        description: 'Self-hosted face recognition: detect, embed, verify, enroll identities and search them. ' +
          'Errors have the shape {"error": {"code", "message"}} with stable codes. ' +
          'Send an API key as "Authorization: Bearer <key>" (scope admin or recognize).',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an irface API key' } } },
      security: [{ apiKey: [] }],
    },
    // Image uploads are read by the handlers (multipart or base64 JSON), so their bodies are documented here.
    transformObject: (doc) => {
      const spec = (doc as { openapiObject: Record<string, any> }).openapiObject;
      for (const [path, ops] of Object.entries<Record<string, any>>(spec.paths ?? {})) {
        for (const op of Object.values(ops)) {
          const fields = IMAGE_FIELDS[path];
          if (fields && op && typeof op === 'object' && !op.requestBody) op.requestBody = imageBody(fields);
        }
      }
      return spec;
    },
  });
  app.get('/openapi.json', { schema: { hide: true }, config: { access: 'open' } }, async () => app.swagger());
}

/** Which routes take images, and in which fields (kept beside the document that describes them). */
const IMAGE_FIELDS: Record<string, string[]> = {
  '/v1/detect': ['image'],
  '/v1/embed': ['image'],
  '/v1/verify': ['image_a', 'image_b'],
  '/v1/search': ['image'],
  '/v1/identities/{id}/faces': ['images'],
  '/v1/identities/{id}/verify': ['image'],
};
