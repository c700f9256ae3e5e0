// 1:1 verify: two photos in, similarity, the threshold used and the decision out.
import { api } from './api.js';
import { $, h, announce, show, showError, busy, fmt } from './ui.js';

export function setupVerify() {
  const form = $('verify-form');
  const out = $('verify-result');

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const a = $('verify-a').files[0];
    const b = $('verify-b').files[0];
    if (!a || !b) return showError(out, { code: 'missing_field', message: 'choose two photos' });
    busy(form.querySelector('button[type=submit]'), async () => {
      announce('Comparing the two photos…');
      const fd = new FormData();
      fd.append('image_a', a, a.name);
      fd.append('image_b', b, b.name);
      try {
        const r = await api('POST', '/v1/verify', fd);
        const decision = r.match ? 'Same person' : 'Different people';
        const notes = Object.entries(r.faces ?? {})
          .filter(([, f]) => f.faces_found > 1)
          .map(([side, f]) => h('li', {}, `${side === 'image_a' ? 'First' : 'Second'} photo: ${f.faces_found} faces, the largest was compared.`));
        show(out, h('dl', { class: 'verdict' },
          h('dt', {}, 'Decision'), h('dd', { class: r.match ? 'match' : 'nomatch', 'data-testid': 'verify-decision' }, decision),
          h('dt', {}, 'Similarity'), h('dd', {}, fmt(r.similarity, 4)),
          h('dt', {}, 'Threshold'), h('dd', {}, `${fmt(r.threshold.value, 4)} (${r.threshold.name}, ${r.threshold.method})`),
        ), notes.length ? h('ul', {}, notes) : '');
        announce(`${decision}: similarity ${fmt(r.similarity, 4)}, threshold ${fmt(r.threshold.value, 4)}.`);
      } catch (e) {
        showError(out, e);
      }
    });
  });
}
