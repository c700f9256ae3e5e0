// Request validation with ajv from the route table's JSON Schemas: params, query string (strings coerced) and JSON body.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ApiError } from '../errors.ts';
import type { RouteDef, Schema } from './route.ts';

// Query strings only carry strings, so types are coerced ("5" -> 5, "true" -> true), as for the JSON body (the API
// has always accepted "k": "5"); nothing is removed, so an unknown property is an error, not silently dropped.
const ajv = new Ajv({ coerceTypes: true, removeAdditional: false, allErrors: false, useDefaults: true, strict: false });

type Part = 'params' | 'querystring' | 'body';

export interface Validated {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
}

/** The JSON body an image route accepts: its image fields (checked by the image reader) and its query options. */
export function imageBodySchema(def: RouteDef): Schema {
  const options = (def.schema?.querystring?.properties ?? {}) as Record<string, unknown>;
  return {
    type: 'object',
    additionalProperties: false,
    properties: { ...Object.fromEntries((def.images ?? []).map((f) => [f, {}])), ...options },
  };
}

function message(part: Part, e: ErrorObject | undefined): string {
  const extra = e?.keyword === 'additionalProperties' ? `: "${(e.params as { additionalProperty: string }).additionalProperty}"` : '';
  return `${part} ${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}${extra}`.replace(/\s+/g, ' ').trim();
}

/**
 * Compiles a route's validators once. The returned function checks and coerces copies of the request's parts and
 * throws ApiError invalid_request naming the first problem (an unknown property by name). On an image route, options
 * in a JSON object body join the query options; the query string wins where both give one.
 */
export function compileValidator(def: RouteDef): (params: object, query: object, body: unknown, json: boolean) => Validated {
  const compile = (s: Schema | undefined) => (s ? ajv.compile(s) : undefined);
  const check = (part: Part, fn: ValidateFunction | undefined, value: unknown) => {
    if (fn && !fn(value)) throw new ApiError('invalid_request', message(part, fn.errors?.[0]));
  };
  const params = compile(def.schema?.params);
  const query = compile(def.schema?.querystring);
  const body = compile(def.images ? imageBodySchema(def) : def.schema?.body);
  const optionNames = Object.keys((def.schema?.querystring?.properties ?? {}) as object);
  return (rawParams, rawQuery, rawBody, json) => {
    const p = { ...rawParams };
    const q = { ...rawQuery } as Record<string, unknown>;
    check('params', params, p);
    check('querystring', query, q);
    let b = rawBody;
    if (def.images) {
      // Only a JSON object is checked here; anything else is answered by the image reader, which names the fields.
      if (json && b && typeof b === 'object' && !Array.isArray(b)) {
        check('body', body, b);
        for (const name of optionNames) if (q[name] === undefined && (b as Record<string, unknown>)[name] !== undefined) q[name] = (b as Record<string, unknown>)[name];
      }
    } else if (body) {
      b = json ? rawBody : undefined;
      check('body', body, b);
    }
    return { params: p, query: q, body: b };
  };
}
