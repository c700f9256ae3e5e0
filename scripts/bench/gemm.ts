// The CPU's practical arithmetic limit: the best float32 GEMM rate of numpy's BLAS and of onnxruntime's own
// MatMul (MLAS, the kernels the embedder runs on), each at a given thread count.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../server/config.ts';
import { openInline } from '../../server/adapters/ort/session.ts';
import { tempDir } from './inputs.ts';
import { now } from './stats.ts';

export const GEMM_N = 2048;

export type GemmRun = { engine: string; flops: number } | { engine: string; error: string };

const NUMPY_PY = `
import json, sys, time, numpy as np
n, reps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
a @ b  # warm-up
best = float("inf")
for _ in range(reps):
    t0 = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"flops": 2 * n**3 / best, "version": np.__version__}))
`;

// One MatMul node, both operands fed at run time (no constant folding), as an ONNX file.
const MATMUL_PY = `
import sys, onnx
from onnx import helper, TensorProto
n = int(sys.argv[2])
io = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n])
graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm", [io("a"), io("b")], [io("c")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, sys.argv[1])
`;

function python(): string | { error: string } {
  const env = spawnSync('bash', [join(PROJECT_ROOT, 'scripts/pyenv.sh')], { encoding: 'utf8' });
  if (env.status !== 0) return { error: `no Python environment (scripts/pyenv.sh: ${env.stderr.trim().split('\n').pop()})` };
  return join(env.stdout.trim(), 'bin/python');
}

/** numpy's float32 n x n matmul, best of `reps`, with `threads` BLAS threads. */
export function numpyGemm(threads: number, reps: number): GemmRun {
  const py = python();
  if (typeof py !== 'string') return { engine: 'numpy', ...py };
  const threadVars = Object.fromEntries(['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'].map((k) => [k, String(threads)]));
  const run = spawnSync(py, ['-c', NUMPY_PY, String(GEMM_N), String(reps)], { encoding: 'utf8', env: { ...process.env, ...threadVars } });
  if (run.status !== 0) return { engine: 'numpy', error: `numpy GEMM failed: ${run.stderr.trim().split('\n').pop()}` };
  const r = JSON.parse(run.stdout) as { flops: number; version: string };
  return { engine: `numpy ${r.version}`, flops: r.flops };
}

let matmulModel: string | undefined;

/** onnxruntime's MatMul on two fed n x n float32 matrices, best of `reps`, with `threads` intra-op threads. */
export async function ortGemm(threads: number, reps: number): Promise<GemmRun> {
  if (!matmulModel) {
    const py = python();
    if (typeof py !== 'string') return { engine: 'onnxruntime', ...py };
    const file = join(tempDir('gemm'), 'matmul.onnx');
    const made = spawnSync(py, ['-c', MATMUL_PY, file, String(GEMM_N)], { encoding: 'utf8' });
    if (made.status !== 0) return { engine: 'onnxruntime', error: `writing the MatMul graph failed: ${made.stderr.trim().split('\n').pop()}` };
    matmulModel = file;
  }
  const session = await openInline(matmulModel, { device: 'cpu', threads });
  try {
    const fill = () => Float32Array.from({ length: GEMM_N * GEMM_N }, (_, i) => ((Math.imul(i, 2654435761) >>> 0) % 1000) / 500 - 1);
    const feeds = { a: { data: fill(), dims: [GEMM_N, GEMM_N] }, b: { data: fill(), dims: [GEMM_N, GEMM_N] } };
    await session.run(feeds); // warm-up
    let best = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = now();
      await session.run(feeds);
      best = Math.min(best, (now() - t0) / 1000);
    }
    return { engine: 'onnxruntime MatMul', flops: (2 * GEMM_N ** 3) / best };
  } finally {
    await session.release();
  }
}
