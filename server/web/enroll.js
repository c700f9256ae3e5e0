// Enrollment: creates the person, sends all photos in one request and shows the result of each photo.
import { api, filesForm, ApiCallError } from './api.js';
import { $, h, announce, show, showError, busy, fmt } from './ui.js';
import { setupCamera } from './camera.js';

/** onEnrolled runs after a person was kept (to refresh the list). */
export function setupEnroll(onEnrolled) {
  const form = $('enroll-form');
  const out = $('enroll-result');
  const camera = setupCamera();

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('enroll-name').value.trim();
    const externalId = $('enroll-external').value.trim();
    const files = [...$('enroll-files').files, ...camera.captures()];
    if (!name) return showError(out, { code: 'missing_field', message: 'enter a name' });
    if (files.length === 0) return showError(out, { code: 'missing_field', message: 'choose photos or capture one with the webcam' });
    const largest = $('enroll-largest').checked;
    busy(form.querySelector('button[type=submit]'), async () => {
      announce(`Enrolling ${name} with ${files.length} photo(s)…`);
      try {
        const report = await enroll(name, externalId, files, largest);
        show(out, report.node);
        announce(report.summary);
        if (report.kept) {
          form.reset();
          camera.clear();
          onEnrolled();
        }
      } catch (e) {
        showError(out, e);
      }
    });
  });
}

async function enroll(name, externalId, files, largest) {
  const person = await api('POST', '/v1/identities', externalId ? { name, external_id: externalId } : { name });
  const path = `/v1/identities/${encodeURIComponent(person.id)}/faces${largest ? '?on_multiple_faces=largest' : ''}`;
  let result;
  try {
    result = await api('POST', path, filesForm('images', files));
  } catch (e) {
    // 422 means no photo could be used; the answer still says why for each one.
    if (!(e instanceof ApiCallError && e.status === 422 && e.body?.results)) {
      await api('DELETE', `/v1/identities/${encodeURIComponent(person.id)}`).catch(() => {});
      throw e;
    }
    result = e.body;
  }
  const kept = result.added > 0;
  // A person without any face cannot be recognised; remove it so the list shows only usable people.
  if (!kept) await api('DELETE', `/v1/identities/${encodeURIComponent(person.id)}`).catch(() => {});
  const summary = kept
    ? `Enrolled ${name}: ${result.added} of ${files.length} photo(s) added.`
    : `${name} was not enrolled: none of the ${files.length} photo(s) could be used.`;
  const items = result.results.map((r) => {
    const label = files[r.index]?.name || `photo ${r.index + 1}`;
    if (r.status === 'added') {
      const dup = r.possible_duplicate_of;
      return h('li', { class: 'ok' }, `${label}: added`,
        dup ? h('span', { class: 'warn' }, ` — looks like ${dup.name} (similarity ${fmt(dup.similarity)}), already enrolled`) : '');
    }
    return h('li', { class: 'failed' }, `${label}: `, h('code', {}, r.error?.code ?? 'failed'), ` ${r.error?.message ?? ''}`);
  });
  return { kept, summary, node: h('div', {}, h('p', {}, summary), h('ul', { class: 'photo-results' }, items)) };
}
