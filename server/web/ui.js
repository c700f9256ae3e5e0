// Small DOM helpers: an element builder (text only, never HTML), the status line, error display, busy buttons.
export const $ = (id) => document.getElementById(id);

/** h('p', { class: 'x' }, 'text', child) — attributes set as given, children appended as text or nodes. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** The page-wide status line (an aria-live region). */
export function announce(message) {
  $('status').textContent = message;
}

/** Replaces a result area's content. */
export function show(target, ...nodes) {
  target.replaceChildren(...nodes);
}

/** Shows an API error as "code: message" in the section's result area and on the status line. */
export function showError(target, err) {
  const code = err.code ?? 'client_error';
  const box = h('div', { class: 'error' },
    h('strong', {}, 'Error '), h('code', {}, code), h('span', {}, `: ${err.message}`));
  if (err.status === 401) box.append(h('p', {}, 'Enter a valid API key above.'));
  target.replaceChildren(box);
  announce(`Error ${code}: ${err.message}`);
}

/** Runs fn with the button disabled and marked busy, so a slow request is not sent twice. */
export async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

export const fmt = (v, digits = 3) => (typeof v === 'number' ? v.toFixed(digits) : '—');
