// Lowers the calling thread's scheduling priority, for worker threads that run inference.
import { getPriority, setPriority } from 'node:os';

/**
 * Raises the calling thread's nice value by `increment` (at most to 19). On Linux a nice value is per thread and
 * threads inherit it, so a worker that calls this before starting its runtime (onnxruntime's pool, wasm) lowers
 * those threads too; the HTTP event loop then gets a core whenever it needs one while inference saturates the CPU.
 * Returns whether it took effect (it is refused on platforms or sandboxes that forbid it).
 */
export function lowerThreadPriority(increment: number): boolean {
  if (!(increment > 0)) return false;
  try {
    setPriority(Math.min(19, getPriority() + increment));
    return true;
  } catch {
    return false;
  }
}

/** Nice increment of the server's inference threads (os.constants.priority.PRIORITY_BELOW_NORMAL). */
export const INFERENCE_NICE = 10;
