// 1:N search: draws the photo with a box per face and, beside each box, the best match and similarity or "unknown".
import { api } from './api.js';
import { $, h, announce, show, showError, busy, fmt } from './ui.js';

const MAX_SIDE = 1600; // longest canvas side; larger photos are drawn scaled down
const KNOWN = '#1b7f3b';
const UNKNOWN = '#b45309';

export function setupSearch() {
  const form = $('search-form');
  const out = $('search-result');
  const figure = $('search-figure');

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = $('search-file').files[0];
    if (!file) return showError(out, { code: 'missing_field', message: 'choose a photo' });
    busy(form.querySelector('button[type=submit]'), async () => {
      announce('Searching the gallery…');
      const fd = new FormData();
      fd.append('image', file, file.name);
      try {
        const [res, bitmap] = await Promise.all([api('POST', '/v1/search?k=3', fd), createImageBitmap(file)]);
        const faces = res.faces ?? [];
        draw(bitmap, res);
        figure.hidden = false;
        const known = faces.filter((f) => !f.unknown).length;
        const summary = faces.length === 0 ? 'No face found in this photo.'
          : `${faces.length} face(s): ${known} recognised, ${faces.length - known} unknown (threshold ${fmt(res.threshold.value, 4)}, ${res.threshold.name}).`;
        show(out, h('p', {}, summary));
        announce(summary);
      } catch (e) {
        figure.hidden = true;
        showError(out, e);
      }
    });
  });
}

const labelText = (f, i) => (f.unknown ? `${i + 1}. unknown` : `${i + 1}. ${f.best.identity.name} ${fmt(f.best.similarity)}`);

function draw(bitmap, res) {
  const canvas = $('search-canvas');
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  // Boxes are in the server's pixel grid (EXIF orientation applied, as the browser draws it).
  const k = canvas.width / res.image.width;
  const line = Math.max(2, Math.round(canvas.width / 300));
  const faces = res.faces ?? [];
  faces.forEach((f, i) => {
    const { x, y, width, height } = f.box;
    ctx.lineWidth = line;
    ctx.strokeStyle = f.unknown ? UNKNOWN : KNOWN;
    if (f.unknown) ctx.setLineDash([line * 3, line * 2]); // not only colour tells them apart
    ctx.strokeRect(x * k, y * k, width * k, height * k);
    ctx.setLineDash([]);
  });
  canvas.setAttribute('aria-label', `The searched photo with ${faces.length} face box(es); the labels follow.`);

  // Labels are DOM text over the canvas (readable by screen readers, selectable, testable), placed in percent.
  const W = res.image.width;
  const H = res.image.height;
  $('search-labels').replaceChildren(...faces.map((f, i) => {
    const below = (f.box.y + f.box.height) / H < 0.88;
    const top = below ? (f.box.y + f.box.height) / H : f.box.y / H;
    const label = h('span', { class: `face-label ${f.unknown ? 'unknown' : 'known'}${below ? '' : ' above'}`, 'data-face': i }, labelText(f, i));
    // Set through the CSSOM: the page's CSP refuses inline style attributes.
    label.style.left = `${((Math.max(0, f.box.x) / W) * 100).toFixed(2)}%`;
    label.style.top = `${(top * 100).toFixed(2)}%`;
    return label;
  }));

  $('search-list').replaceChildren(...faces.map((f, i) => {
    const others = f.matches.filter((m) => !f.best || m.identity.id !== f.best.identity.id)
      .map((m) => `${m.identity.name} ${fmt(m.similarity)}`).join(', ');
    const main = f.unknown ? 'unknown: nobody reaches the threshold' : `${f.best.identity.name}, similarity ${fmt(f.best.similarity)}`;
    return h('li', {}, main, others ? `; ${f.unknown ? 'closest' : 'next'}: ${others}` : '');
  }));
}
