// The OpenAPI document: valid OpenAPI 3 by @apidevtools/swagger-parser, and exactly the routes of the table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { testConfig, testServer } from '../test-support.ts';
import { routeTable, type AppDeps } from './app.ts';

const server = testServer(testConfig());
before(() => server.start());
after(() => server.close());

const getDocument = async () => (await server.call('/openapi.json', { headers: { authorization: '' } })).body;

test('/openapi.json validates as OpenAPI 3 (schema and semantics)', async () => {
  const doc = await getDocument();
  assert.match(doc.openapi, /^3\.0\./);
  const api = await SwaggerParser.validate(structuredClone(doc)); // throws, listing the problems, when invalid
  assert.equal(api.info.title, 'irface');
});

test('the document lists every route of the table and nothing else', async () => {
  const doc = await getDocument();
  // The route builders only keep their dependencies, so the table can be listed without a runtime.
  const table = routeTable({} as AppDeps).map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`).sort();
  const documented = Object.entries<Record<string, unknown>>(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  assert.deepEqual(documented, table);
  assert.ok(table.length >= 16, table.join(', '));
});

test('image routes document their JSON-body options and that the query string wins', async () => {
  const doc = await getDocument();
  const search = doc.paths['/v1/search'].post;
  const body = search.requestBody.content['application/json'].schema;
  assert.equal(body.additionalProperties, false);
  for (const name of ['image', 'k', 'threshold', 'max_faces', 'min_score']) assert.ok(body.properties[name], `body field ${name}`);
  assert.match(body.properties.k.description, /query string wins/);
  assert.match(search.parameters.find((p: { name: string }) => p.name === 'k').description, /JSON body.*query string wins/);
  assert.match(body.properties.image.description, /base64url/);
  const enroll = doc.paths['/v1/identities/{id}/faces'];
  assert.ok(enroll.post.requestBody.content['application/json'].schema.properties.on_multiple_faces);
  assert.equal(enroll.get.requestBody, undefined, 'listing faces takes no body');
});
