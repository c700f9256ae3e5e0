// OpenAPI 3 document (served at /openapi.json), generated from the same route table that routes and validates requests.
import { DECODED_FORMATS } from '../adapters/image-format.ts';
import type { RouteDef, Schema } from './route.ts';

const BODY_OPTIONS_NOTE = 'also accepted as a field of a JSON body; the query string wins where both give it';

/** JSON Schema (draft-07, as ajv validates) to an OpenAPI 3.0 schema: `type: [T, "null"]` becomes `nullable`. */
function toOpenApi(schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'type' && Array.isArray(v)) {
      const types = v.filter((t) => t !== 'null');
      out.type = types.length === 1 ? types[0] : types;
      if (types.length < v.length) out.nullable = true;
    } else if (k === 'properties' && v && typeof v === 'object') {
      out.properties = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, toOpenApi(s as Schema)]));
    } else {
      out[k] = v;
    }
  }
  return out;
}

function parameters(where: 'query' | 'path', schema: Schema | undefined, note?: string): Record<string, unknown>[] {
  const props = (schema?.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema?.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s as { description?: string };
    const text = [description, note].filter(Boolean).join('; ');
    return { schema: toOpenApi(rest), in: where, name, required: where === 'path' || required.has(name), ...(text ? { description: text } : {}) };
  });
}

/** The upload body of an image route: files as multipart, base64 strings (and the query options) as JSON. */
function imageBody(def: RouteDef): Record<string, unknown> {
  const fields = def.images ?? [];
  const many = fields.includes('images');
  const docFields = many ? ['images'] : fields; // enrollment also reads a lone "image" field, kept undocumented
  const files = Object.fromEntries(docFields.map((f) => [f, many
    ? { type: 'array', items: { type: 'string', format: 'binary' }, description: 'one or more image files' }
    : { type: 'string', format: 'binary', description: `image file (${DECODED_FORMATS}; read from its bytes; HEIC and BMP are refused with 415)` }]));
  const b64 = Object.fromEntries(docFields.map((f) => [f, many
    ? { type: 'array', items: { type: 'string', format: 'byte' } }
    : { type: 'string', format: 'byte', description: 'base64 or base64url (padding optional), or a data: URL' }]));
  const options = Object.fromEntries(parameters('query', def.schema?.querystring)
    .map((p) => [p.name as string, { ...(p.schema as object), description: `${p.description ? `${p.description}; ` : ''}the query string wins over this field` }]));
  // OpenAPI 3.0 forbids an empty `required` list, so enrollment (any of its image fields) has none.
  const required = many ? {} : { required: [...docFields] };
  return {
    required: true,
    content: {
      'multipart/form-data': { schema: { type: 'object', properties: files, ...required } },
      'application/json': { schema: { type: 'object', additionalProperties: false, properties: { ...b64, ...options }, ...required } },
    },
  };
}

function operation(def: RouteDef): Record<string, unknown> {
  const note = def.images ? BODY_OPTIONS_NOTE : undefined;
  const params = [...parameters('query', def.schema?.querystring, note), ...parameters('path', def.schema?.params)];
  return {
    ...(params.length ? { parameters: params } : {}),
    ...(def.images ? { requestBody: imageBody(def) }
      : def.schema?.body ? { requestBody: { required: true, content: { 'application/json': { schema: toOpenApi(def.schema.body) } } } } : {}),
    responses: { 200: { description: 'Default Response' } },
  };
}

/** The whole document: one operation per route of the table, in table order (hidden routes left out). */
export function openApiDocument(routes: readonly RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const def of routes) {
    if (def.hide) continue;
    const path = def.path.replace(/:(\w+)/g, '{$1}');
    (paths[path] ??= {})[def.method.toLowerCase()] = operation(def);
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'irface',
      version,
      description: 'Self-hosted face recognition: detect, embed, verify, enroll identities and search them. ' +
        'Errors have the shape {"error": {"code", "message"}} with stable codes. ' +
        'Send an API key as "Authorization: Bearer <key>" (scope admin or recognize).',
    },
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an irface API key' } }, schemas: {} },
    paths,
    security: [{ apiKey: [] }],
  };
}
