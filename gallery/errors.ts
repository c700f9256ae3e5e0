// The gallery's single error type: a stable machine `code` the HTTP layer maps to a status, and a human message.

/** Every code the gallery can raise; stable strings, so clients and the HTTP layer may switch on them. */
export const GALLERY_ERROR_CODES = [
  'identity_not_found',
  'face_not_found',
  'external_id_conflict',
  'model_mismatch',
  'dimension_mismatch',
  'invalid_embedding',
  'invalid_argument',
  'invalid_cursor',
  'crops_missing',
  'reindex_incomplete',
  'schema_too_new',
  'gallery_closed',
] as const;

export type GalleryErrorCode = (typeof GALLERY_ERROR_CODES)[number];

export class GalleryError extends Error {
  readonly code: GalleryErrorCode;
  /** Structured facts behind the message (e.g. the conflicting identity id), safe to return to a client. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: GalleryErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GalleryError';
    this.code = code;
    this.details = details;
  }
}

export function isGalleryError(err: unknown, code?: GalleryErrorCode): err is GalleryError {
  return err instanceof GalleryError && (code === undefined || err.code === code);
}
