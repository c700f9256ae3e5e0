// Resolves the `threshold` request parameter: a threshold named in the model card, or a cosine value.
import { ApiError } from '../errors.ts';
import type { NamedThreshold } from '../services/verify.ts';

export const thresholdParam = {
  type: 'string',
  pattern: '^([A-Za-z][A-Za-z0-9_.-]{0,39}|-?[0-9]{0,3}(\\.[0-9]{1,12})?)$',
  description: 'a threshold named in the model card (e.g. "default", "far_1e-3") or a cosine value in [-1, 1]; default "default"',
} as const;

export function resolveThreshold(raw: string | undefined, named: Record<string, NamedThreshold>): NamedThreshold {
  const key = raw ?? 'default';
  if (/^[A-Za-z]/.test(key)) {
    const t = named[key];
    if (!t) throw new ApiError('invalid_request', `unknown threshold "${key}"; the model card has: ${Object.keys(named).join(', ')}`);
    return t;
  }
  // Number('') is 0: an empty `threshold=` must not silently accept every match.
  const value = key.trim() === '' ? NaN : Number(key);
  if (!Number.isFinite(value) || value < -1 || value > 1) {
    throw new ApiError('invalid_request', `threshold ${JSON.stringify(key)} must be a cosine between -1 and 1 or a threshold name`);
  }
  return { name: 'custom', value, method: 'given by the client' };
}
