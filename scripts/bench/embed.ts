// Section 2: embedding faces/s at batch 1, 8, 32, irface's OnnxEmbedder vs face-api's descriptor, and share of GEMM peak.
import { buildRuntime } from '../../server/compose.ts';
import { FaceApiDetector } from '../../server/adapters/faceapi/detector.ts';
import { cosine } from '../../gallery/center-math.ts';
import type { RgbImage } from '../../server/pipeline/warp.ts';
import { GEMM_N, numpyGemm, ortGemm, type GemmRun } from './gemm.ts';
import { benchConfig, demoPhotos, lfwPhotos } from './inputs.ts';
import { atLeast, notChecked, table, type SectionOptions, type SectionResult } from './report.ts';
import { fmt, fmtMs, fmtPct, fmtRatio, median, summarize, timed } from './stats.ts';

const BATCHES = [1, 8, 32];
const TARGET_RATIO = 3;
const TARGET_SHARE = 0.4;

/** face-api's batch: the crops side by side in one image, each a region its computeFaceDescriptor describes. */
function tile(crops: readonly RgbImage[]): { image: RgbImage; regions: [number, number, number, number][] } {
  const { width: w, height: h } = crops[0];
  const data = new Uint8Array(w * crops.length * h * 3);
  crops.forEach((c, k) => {
    for (let y = 0; y < h; y++) data.set(c.data.subarray(y * w * 3, (y + 1) * w * 3), (y * w * crops.length + k * w) * 3);
  });
  return { image: { data, width: w * crops.length, height: h }, regions: crops.map((_, k) => [k * w, 0, w, h]) };
}

export async function embedSection({ quick, log }: SectionOptions): Promise<SectionResult> {
  const config = benchConfig({ IRFACE_DETECTOR: 'retinaface' });
  const runtime = await buildRuntime(config);
  const faceapi = new FaceApiDetector(1);
  try {
    // Real aligned crops: every face the server's pipeline finds in the demo photos and some LFW photos.
    const crops: RgbImage[] = [];
    for (const p of [...demoPhotos(), ...lfwPhotos(24)]) {
      const decoded = await runtime.pipeline.decode(p.bytes);
      for (const face of await runtime.pipeline.detect(decoded)) crops.push(runtime.pipeline.align(decoded.image, face));
    }
    while (crops.length < Math.max(...BATCHES)) crops.push(...crops.slice(0, Math.max(...BATCHES) - crops.length));
    const { embedder, model } = runtime;
    await faceapi.ready();

    // Same faces, both models: face-api's descriptor and the port (with its flip TTA) should agree closely.
    const sample = crops.slice(0, 8);
    const ours = await embedder.embed(sample);
    const theirs = await faceapi.reference(tile(sample).image, 0, tile(sample).regions);
    const agreement = median(sample.map((_, i) => cosine(ours[i], theirs[i].descriptor!)));

    const gemmReps = quick ? 3 : 10;
    // numpy and onnxruntime, with 1 thread and with the embedder's thread count, just before and just after the embedding runs.
    const gemmThreads = [...new Set([1, config.embedThreads])];
    const gemm = async (when: string) => {
      const runs: (GemmRun & { threads: number; when: string })[] = [];
      for (const threads of gemmThreads) {
        log(`embed: float32 GEMM (numpy, onnxruntime), ${threads} thread(s), ${when}`);
        runs.push({ threads, when, ...numpyGemm(threads, gemmReps) }, { threads, when, ...(await ortGemm(threads, gemmReps)) });
      }
      return runs;
    };
    const gemmRuns = await gemm('before');
    const rows: (string | number)[][] = [];
    const perSecond: Record<number, { ours: number; theirs: number }> = {};
    for (const b of BATCHES) {
      const batch = crops.slice(0, b);
      const { image, regions } = tile(batch);
      await embedder.embed(batch); // warm-up at this shape
      await faceapi.reference(image, 0, regions);
      const reps = quick ? 2 : Math.max(5, Math.round(40 / b));
      const t = { ours: [] as number[], theirs: [] as number[] };
      for (let r = 0; r < reps; r++) {
        log(`embed: batch ${b}, round ${r + 1}/${reps}`);
        t.ours.push((await timed(() => embedder.embed(batch))).ms);
        t.theirs.push((await timed(() => faceapi.reference(image, 0, regions))).ms);
      }
      const so = summarize(t.ours), st = summarize(t.theirs);
      perSecond[b] = { ours: (1000 * b) / so.p50, theirs: (1000 * b) / st.p50 };
      rows.push([b, reps, `${fmtMs(so.p50)} / ${fmtMs(so.p99)}`, fmt(perSecond[b].ours),
        `${fmtMs(st.p50)} / ${fmtMs(st.p99)}`, fmt(perSecond[b].theirs), fmtRatio(perSecond[b].ours / perSecond[b].theirs)]);
    }

    gemmRuns.push(...(await gemm('after')));
    // The limit is the best rate any of those runs reached (contention only ever lowers it).
    const measured = gemmRuns.flatMap((r) => ('flops' in r ? [{ ...r, flops: r.flops }] : []));
    const failed = gemmRuns.find((r) => 'error' in r) as { error: string } | undefined;
    const limit = measured.length > 0 ? measured.reduce((a, b) => (b.flops > a.flops ? b : a)) : { error: failed?.error ?? 'no GEMM run' };
    const flopsPerFace = model.card.flops_per_face;
    const body = [
      `${crops.length} aligned ${model.card.input.width}x${model.card.input.height} crops of real faces (demo photos and LFW, ` +
        `aligned by the server's pipeline). irface: \`OnnxEmbedder.embed()\` of model \`${model.card.id}\` ` +
        `(${config.embedThreads} intra-op threads, the server's default here; the model runs its flip test-time augmentation, ` +
        `i.e. two forward passes per face). face-api: its own \`computeFaceDescriptor\` (tfjs wasm, one worker) on the same ` +
        `crops, placed side by side in one image and described region by region in one request. ` +
        `Median cosine between the two models' embeddings of the same crop: ${agreement.toFixed(4)}.`,
      table(['batch', 'rounds', 'irface ms per batch p50 / p99', 'irface faces/s', 'face-api ms per batch p50 / p99', 'face-api faces/s', 'speed-up'], rows),
    ];
    const targets = [atLeast('embedding throughput vs face-api at batch 32', perSecond[32].ours / perSecond[32].theirs, TARGET_RATIO, fmtRatio)];
    if ('error' in limit || !flopsPerFace) {
      const why = 'error' in limit ? limit.error : 'the model card has no flops_per_face';
      body.push(`Arithmetic limit not measured: ${why}.`);
      targets.push(notChecked('embedding FLOP/s as a share of the GEMM limit at batch 32', `>= ${fmtPct(TARGET_SHARE)}`, why));
    } else {
      body.push(
        `Arithmetic limit: the best float32 matmul rate measured here, ${GEMM_N}x${GEMM_N}x${GEMM_N}, best of ${gemmReps} runs each, ` +
          `by numpy's BLAS and by onnxruntime's own MatMul (the MLAS kernels the embedder runs on), with ` +
          `${gemmThreads.join(' and ')} thread(s), just before and just after the embedding runs. The best: ` +
          `**${fmt(limit.flops / 1e9)} GFLOP/s** (${limit.engine}, ${limit.threads} thread(s)). The model card gives ` +
          `${fmt(flopsPerFace / 1e9)} GFLOP per face (flip TTA included).`,
        table(['engine', 'threads', 'when', 'GFLOP/s'], gemmRuns.map((r) => [r.engine, r.threads, r.when, 'flops' in r ? fmt(r.flops / 1e9) : `failed: ${r.error}`])),
        table(['batch', 'irface GFLOP/s (faces/s x flops_per_face)', 'share of the GEMM limit'],
          BATCHES.map((b) => [b, fmt((perSecond[b].ours * flopsPerFace) / 1e9), fmtPct((perSecond[b].ours * flopsPerFace) / limit.flops)])),
      );
      targets.push(atLeast('embedding FLOP/s as a share of the GEMM limit at batch 32', (perSecond[32].ours * flopsPerFace) / limit.flops, TARGET_SHARE, fmtPct));
    }
    return { id: 'embed', title: '2. Embedding throughput', body, targets };
  } finally {
    await faceapi.close();
    await runtime.close();
  }
}
