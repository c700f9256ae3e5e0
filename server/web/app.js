// Entry module of the web client: the API key field, then each section's wiring.
import { api, getKey, setKey } from './api.js';
import { $, h, announce, show, showError } from './ui.js';
import { setupEnroll } from './enroll.js';
import { setupPeople } from './people.js';
import { setupVerify } from './verify.js';
import { setupSearch } from './search.js';

const people = setupPeople();
setupEnroll(() => people.reload());
setupVerify();
setupSearch();

const keyInput = $('api-key');
const keyOut = $('key-result');
keyInput.value = getKey();

$('key-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const key = keyInput.value.trim();
  setKey(key);
  if (!key) return showError(keyOut, { code: 'missing_field', message: 'enter an API key' });
  try {
    // Any valid key may read the status; an answer proves the key works before anything else is tried.
    const s = await api('GET', '/v1/status');
    show(keyOut, h('p', { class: 'ok' }, `Key accepted. Model ${s?.model?.id ?? 'unknown'} on ${s?.device ?? 'unknown device'}.`));
    announce('Key accepted for this tab.');
    people.reload();
  } catch (e) {
    showError(keyOut, e);
  }
});

$('key-forget').addEventListener('click', () => {
  setKey('');
  keyInput.value = '';
  show(keyOut);
  keyInput.focus();
  announce('Key forgotten.');
});

if (getKey()) people.reload();
