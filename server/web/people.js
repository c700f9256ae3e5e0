// The people list: one page at a time (next_cursor from the API, earlier cursors kept for "previous"), with delete.
import { api } from './api.js';
import { $, h, announce, show, showError } from './ui.js';

const PAGE_SIZE = 20;

/** Wires the list controls; returns reload() (the current page again). */
export function setupPeople() {
  const body = $('people-body');
  const caption = $('people-caption');
  const out = $('people-result');
  const prev = $('people-prev');
  const next = $('people-next');
  const cursors = [null]; // cursors[i] loads page i
  let page = 0;
  let nextCursor = null;

  async function load(target) {
    const cursor = cursors[target];
    const query = `limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    try {
      const res = await api('GET', `/v1/identities?${query}`);
      page = target;
      nextCursor = res.next_cursor;
      cursors.length = page + 1;
      if (nextCursor) cursors.push(nextCursor);
      render(res.items);
      show(out);
    } catch (e) {
      showError(out, e);
    }
  }

  function render(items) {
    prev.disabled = page === 0;
    next.disabled = !nextCursor;
    caption.textContent = items.length === 0 && page === 0
      ? 'Nobody is enrolled yet.'
      : `Page ${page + 1}: ${items.length} ${items.length === 1 ? 'person' : 'people'}${nextCursor ? ', more on the next page' : ''}.`;
    body.replaceChildren(...items.map((p) => {
      const del = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${p.name}` }, 'Delete');
      del.addEventListener('click', () => remove(p, del));
      return h('tr', { 'data-id': p.id },
        h('td', {}, p.name), h('td', {}, p.external_id ?? ''), h('td', { class: 'num' }, p.face_count),
        h('td', {}, h('time', { datetime: p.created_at }, new Date(p.created_at).toLocaleString())), h('td', {}, del));
    }));
  }

  async function remove(person, button) {
    button.disabled = true;
    try {
      await api('DELETE', `/v1/identities/${encodeURIComponent(person.id)}`);
      announce(`Deleted ${person.name} with their faces.`);
      await load(page);
      // The deleted row's button is gone: keep keyboard focus in the list.
      (body.querySelector('button') ?? $('people-refresh')).focus();
    } catch (e) {
      button.disabled = false;
      showError(out, e);
    }
  }

  $('people-refresh').addEventListener('click', () => load(0));
  prev.addEventListener('click', () => load(Math.max(0, page - 1)));
  next.addEventListener('click', () => nextCursor && load(page + 1));
  return { reload: () => load(page) };
}
