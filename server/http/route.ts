// The route table's entry: what one API route is (method, path, access, schemas, handler), for routing and OpenAPI alike.
import type { Request } from 'express';
import type { Access } from '../security/keys.ts';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** A JSON Schema as the route table writes it (draft-07 subset that ajv validates and OpenAPI 3.0 documents). */
export type Schema = Readonly<Record<string, unknown>>;

/** What a handler receives: the validated (and type-coerced) params, query and JSON body, and the raw request. */
export interface RouteContext<Q = any, P = any, B = any> {
  params: P;
  /** The query string; on image routes also the options given in a JSON body (the query wins). */
  query: Q;
  body: B;
  /** The express request itself, for what is read in the handler (image uploads). */
  req: Request;
}

export interface RouteDef<Q = any, P = any, B = any> {
  method: Method;
  /** Express path syntax (`/v1/identities/:id`); also the metrics label and, as `{id}`, the OpenAPI path. */
  path: string;
  /** Who may call it; a route without a rule needs an admin key (secure by default). */
  access?: Access;
  /** Detection/embedding work: counts against IRFACE_MAX_IN_FLIGHT and is refused with 429 beyond it. */
  heavy?: boolean;
  /**
   * The image fields of an upload route (multipart files or base64 strings in a JSON body). Such a route's JSON
   * body may also carry the query-string options; unknown JSON fields are refused.
   */
  images?: readonly string[];
  /** Left out of /openapi.json (the document's own route). */
  hide?: boolean;
  schema?: { params?: Schema; querystring?: Schema; body?: Schema };
  handler(ctx: RouteContext<Q, P, B>): Promise<unknown>;
}

/** A handler's answer other than a 200 JSON body: another status, no body (204), or a non-JSON content type. */
export class Answer {
  constructor(readonly status: number, readonly body?: unknown, readonly type?: string) {}
}

export const answer = (status: number, body?: unknown, type?: string): Answer => new Answer(status, body, type);

/** Identity function that types a route's query, params and body in one place. */
export const route = <Q = Record<string, never>, P = Record<string, never>, B = unknown>(def: RouteDef<Q, P, B>): RouteDef => def as RouteDef;
