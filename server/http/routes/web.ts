// Public pages: the browser client (server/web) at / and the rendered API reference at /docs (Swagger UI, local files).
import express, { type Request, type Response, type Router } from 'express';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { PROJECT_ROOT } from '../../config.ts';

export const WEB_DIR = resolve(PROJECT_ROOT, 'server/web');

// The Swagger UI files as npm installed them (absolute-path.js avoids loading the 1.6 MB bundle into the server).
const SWAGGER_DIR: string = createRequire(import.meta.url)('swagger-ui-dist/absolute-path.js')();

// The client only talks to this origin, draws photos the user picked (blob:/data: images) and may show a
// camera stream; nothing else may load, and the page may not be framed.
const WEB_CSP = [
  "default-src 'self'", "img-src 'self' blob: data:", "media-src 'self' blob:", "object-src 'none'",
  "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

/** Scripts as application/javascript, the type the client has always been served with (the mime table says text/). */
function scriptType(res: Response, path: string): void {
  if (path.endsWith('.js')) res.setHeader('content-type', 'application/javascript; charset=utf-8');
}

function webHeaders(res: Response, path: string): void {
  res.locals.page = true; // labels the request by its file in the metrics (a bounded set: the files of server/web)
  scriptType(res, path);
  res.setHeader('content-security-policy', WEB_CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
}

/** The Swagger UI page; `base` is where its files are, relative to the page's own URL. */
const docsPage = (base: string) => `<!-- irface API reference: Swagger UI from the swagger-ui-dist package, served by this server -->
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>irface API reference</title>
<link rel="stylesheet" type="text/css" href="${base}swagger-ui.css">
<link rel="stylesheet" type="text/css" href="${base}index.css">
<link rel="icon" type="image/png" href="${base}favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="${base}favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${base}swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="${base}swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="${base}swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
`;

// Points Swagger UI at ./json beside the page (/docs/json) with the online validator off, so the page makes no
// request to another origin. The package's own initializer (which loads a demo document from the internet) is never served.
const INITIALIZER = `window.onload = function () {
  function resolveUrl(url) {
    var page = window.location.href.split('#', 1)[0];
    return new URL(url, page.endsWith('/') ? page : page + '/').href;
  }
  window.ui = SwaggerUIBundle({
    url: resolveUrl('./json'),
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
};
`;

/** Browser assets of the package; its Node entry points, licences and demo page are not served. */
const SWAGGER_FILES = new Set(readdirSync(SWAGGER_DIR).filter((f) => /\.(js|css|png|map)$/.test(f) &&
  !['index.js', 'absolute-path.js', 'swagger-initializer.js'].includes(f)));

/**
 * Pages hold no data and every API call they make carries the user's key, so these routes are open. Only files
 * present in server/web are served; anything else falls through to the API's 404.
 */
export function webRoutes(document: () => unknown): Router {
  const router = express.Router({ strict: true, caseSensitive: true });
  router.use(express.static(WEB_DIR, { index: ['index.html'], redirect: false, dotfiles: 'ignore', setHeaders: webHeaders }));
  router.get('/docs', (_req, res) => { res.type('html').send(docsPage('/docs/static/')); });
  router.get('/docs/', (_req, res) => { res.type('html').send(docsPage('./static/')); });
  router.get('/docs/json', (_req, res) => { res.json(document()); });
  router.get('/docs/static/swagger-initializer.js', (_req, res) => { res.type('application/javascript').send(INITIALIZER); });
  router.get('/docs/static/index.html', (_req, res) => { res.status(302).setHeader('location', '/docs/').end(); });
  const swaggerFiles = express.static(SWAGGER_DIR, { index: false, redirect: false, setHeaders: scriptType });
  router.get('/docs/static/:file', (req: Request, res, next) => {
    if (!SWAGGER_FILES.has(String(req.params.file))) return next();
    req.url = `/${req.params.file}`; // serve-static resolves req.url against the package directory
    swaggerFiles(req, res, next);
  });
  return router;
}
