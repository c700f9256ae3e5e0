// The one error type of the API: an HTTP status, a stable machine code and a human message.

export const ERROR_CODES = {
  missing_field: 400,
  invalid_request: 400,
  invalid_image: 400,
  invalid_base64: 400,
  unsupported_format: 415,
  unsupported_media_type: 415,
  image_too_large: 413,
  payload_too_large: 413,
  too_many_images: 413,
  no_face: 422,
  multiple_faces: 422,
  no_enrolled_faces: 422,
  invalid_cursor: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  identity_not_found: 404,
  dimension_mismatch: 422,
  face_not_found: 404,
  external_id_conflict: 409,
  duplicate_image: 409,
  rate_limited: 429,
  model_mismatch: 409,
  unavailable: 503,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ApiError extends Error {
  readonly status: number;
  constructor(readonly code: ErrorCode, message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.status = ERROR_CODES[code];
  }
  toBody(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}
