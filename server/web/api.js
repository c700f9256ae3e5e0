// Calls the irface API: the key from sessionStorage on every request, JSON or multipart bodies, errors as ApiCallError.
const KEY_ITEM = 'irface.apiKey';

export const getKey = () => sessionStorage.getItem(KEY_ITEM) ?? '';

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

/** An error answer of the API ({"error": {code, message, details}}), or a network failure (status 0). */
export class ApiCallError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body; // the parsed answer, for answers that carry results besides the error (enrollment's 422)
  }
}

/** method, path (with query) and an optional body: FormData goes as multipart, anything else as JSON. */
export async function api(method, path, body) {
  const headers = {};
  const key = getKey();
  if (key) headers.authorization = `Bearer ${key}`;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch (e) {
    throw new ApiCallError(0, 'network_error', `the server could not be reached (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (res.ok) return data;
  const err = data?.error;
  const code = err?.code ?? `http_${res.status}`;
  throw new ApiCallError(res.status, code, err?.message ?? (text.slice(0, 200) || res.statusText), data);
}

/** FormData with the files under one field name (the server reads the bytes, not the names). */
export function filesForm(field, files) {
  const fd = new FormData();
  for (const f of files) fd.append(field, f, f.name || `${field}.jpg`);
  return fd;
}
