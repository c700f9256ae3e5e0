// Prometheus metrics: HTTP traffic, work in flight, inference time by model, faces seen, gallery size.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Detector, Embedder } from '../pipeline/types.ts';

export interface GallerySize {
  stats(): Promise<{ identities: number; faces: number }>;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'irface_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [this.registry] });
  private readonly latency = new Histogram({
    name: 'irface_http_request_duration_seconds', help: 'HTTP request latency by route', labelNames: ['route', 'method'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  private readonly inference = new Histogram({
    name: 'irface_inference_seconds', help: 'time of one detector or embedder call, by stage and model', labelNames: ['stage', 'model'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry],
  });
  private readonly faces = new Counter({ name: 'irface_faces_detected_total', help: 'faces returned by the detector', registers: [this.registry] });
  private readonly embedded = new Counter({ name: 'irface_faces_embedded_total', help: 'faces embedded', labelNames: ['model'], registers: [this.registry] });

  constructor(queueDepth: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: 'irface_process_' });
    new Gauge({ name: 'irface_detector_queue_depth', help: 'detection jobs waiting or running', registers: [this.registry], collect() { this.set(queueDepth()); } });
  }

  /** Gallery size gauges, read from the gallery at each scrape. */
  watchGallery(g: GallerySize): void {
    // Each gauge reads the gallery itself: a gauge set from another's collect() showed the previous scrape's value.
    new Gauge({
      name: 'irface_gallery_identities', help: 'enrolled identities', registers: [this.registry],
      async collect() { this.set((await g.stats()).identities); },
    });
    new Gauge({
      name: 'irface_gallery_faces', help: 'enrolled faces', registers: [this.registry],
      async collect() { this.set((await g.stats()).faces); },
    });
  }

  /**
   * Counts and times one answered request. `route` must be the route's template (`/v1/identities/:id`), never the
   * raw URL, which holds ids: each distinct label value is a time series kept for the life of the process.
   */
  observe(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.latency.observe({ route, method }, seconds);
  }

  timeDetector(inner: Detector, model: string): Detector {
    const m = this;
    return {
      name: inner.name,
      async detect(image, options) {
        const end = m.inference.startTimer({ stage: 'detect', model });
        const out = await inner.detect(image, options);
        end();
        m.faces.inc(out.length);
        return out;
      },
      close: () => inner.close(),
    };
  }

  timeEmbedder(inner: Embedder): Embedder {
    const m = this;
    return {
      get modelId() { return inner.modelId; },
      get dim() { return inner.dim; },
      get device() { return inner.device; },
      async embed(crops) {
        const end = m.inference.startTimer({ stage: 'embed', model: inner.modelId });
        const out = await inner.embed(crops);
        end();
        m.embedded.inc({ model: inner.modelId }, crops.length);
        return out;
      },
      close: () => inner.close(),
    };
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
