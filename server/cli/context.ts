// Shared set-up for offline commands: config, the face pipeline and the locked gallery, closed together.
import { parseConfig, type Config } from '../config.ts';
import { buildRuntime, openRuntimeGallery, thresholdsOf, type Runtime } from '../compose.ts';
import type { Gallery } from '../../gallery/gallery.ts';
import { RecognitionService } from '../services/recognition.ts';
import type { NamedThreshold } from '../services/verify.ts';

export interface CliContext {
  config: Config;
  runtime: Runtime;
  gallery: Gallery;
  recognition: RecognitionService;
  threshold: NamedThreshold;
  thresholds: Record<string, NamedThreshold>;
}

const log = (m: string) => process.stderr.write(`irface: ${m}\n`);

export async function withGallery<T>(purpose: string, fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = parseConfig();
  const runtime = await buildRuntime(config, log);
  try {
    const opened = await openRuntimeGallery(config, runtime, purpose, log);
    try {
      const thresholds = thresholdsOf(runtime.model);
      const threshold = thresholds.default;
      if (!threshold) throw new Error(`model card ${runtime.model.cardPath} has no default threshold`);
      const recognition = new RecognitionService(runtime.pipeline, opened.gallery, { keepCrops: config.keepCrops });
      return await fn({ config, runtime, gallery: opened.gallery, recognition, threshold, thresholds });
    } finally {
      await opened.close();
    }
  } finally {
    await runtime.close();
  }
}
