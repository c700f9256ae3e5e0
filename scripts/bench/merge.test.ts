// mergeReport: a partial run replaces only its own sections and Targets rows; the other figures stay as committed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../server/config.ts';
import { mergeReport } from './merge.ts';

const report = (opening: string, targets: string[], sections: [number, string][]) => [
  '# Benchmarks', opening, '## Machine', '| what | value |\n|---|---|\n| CPU | x |',
  '## Targets', ['| section | what | target | measured | result |', '|---|---|---|---|---|', ...targets].join('\n'),
  ...sections.flatMap(([n, body]) => [`## ${n}. Section ${n}`, body]),
].join('\n\n') + '\n';

const existing = report('Written by `npm run bench` on day 1.',
  ['| 1 | a | >= 5x | 6x | met |', '| 3 | verify | <= 150 ms | 134 ms | met |', '| 3 | healthz | <= 50 ms | 29 ms | met |', '| 4 | hnsw | <= 5 ms | 1 ms | met |'],
  [[1, 'old one'], [3, 'old three'], [4, 'old four']]);
const fresh = report('Written by `npm run bench -- --only http` on day 2.',
  ['| 3 | verify | <= 150 ms | 120 ms | met |', '| 3 | healthz | <= 50 ms | 60 ms | **MISSED** |'], [[3, 'new three']]);

test('section 3 and its Targets rows are replaced; sections 1 and 4 and their rows are kept, in order', () => {
  const out = mergeReport(existing, fresh, [3], 'npm run bench -- --only http --merge');
  assert.match(out, /## 1\. Section 1\n\nold one/);
  assert.match(out, /## 3\. Section 3\n\nnew three/);
  assert.match(out, /## 4\. Section 4\n\nold four/);
  assert.doesNotMatch(out, /old three|134 ms|29 ms|day 2/);
  const rows = out.split('\n').filter((l) => /^\| \d/.test(l));
  assert.deepEqual(rows, ['| 1 | a | >= 5x | 6x | met |', '| 3 | verify | <= 150 ms | 120 ms | met |',
    '| 3 | healthz | <= 50 ms | 60 ms | **MISSED** |', '| 4 | hnsw | <= 5 ms | 1 ms | met |']);
  assert.match(out, /^# Benchmarks\n\nWritten by `npm run bench` on day 1\. Section 3 was rerun alone later by `npm run bench -- --only http --merge`/);
  assert.equal(out.indexOf('## 1.') < out.indexOf('## 3.') && out.indexOf('## 3.') < out.indexOf('## 4.'), true);
  assert.match(out, /new three\n\n## 4\./, 'a blank line before the next heading, though the new section ended its report');
  assert.ok(out.endsWith('old four\n'));
});

test('merging twice keeps one note and one copy of the section', () => {
  const once = mergeReport(existing, fresh, [3], 'cmd');
  const twice = mergeReport(once, fresh, [3], 'cmd');
  assert.equal(twice, once);
});

test('a section the report did not have is inserted in order; a section missing from the new run is an error', () => {
  const without = report('Written on day 1.', ['| 1 | a | >= 5x | 6x | met |'], [[1, 'old one'], [4, 'old four']]);
  const out = mergeReport(without, fresh, [3], 'cmd');
  assert.ok(out.indexOf('## 1.') < out.indexOf('## 3.') && out.indexOf('## 3.') < out.indexOf('## 4.'), out);
  assert.throws(() => mergeReport(existing, fresh, [2], 'cmd'), /no section 2/);
});

test('on the committed docs/BENCHMARKS.md, merging its own section 3 back changes only the opening note', () => {
  const doc = readFileSync(join(PROJECT_ROOT, 'docs/BENCHMARKS.md'), 'utf8');
  const out = mergeReport(doc, doc, [3], 'cmd');
  const [a, b] = [doc.split('\n'), out.split('\n')];
  assert.equal(b.length, a.length);
  assert.deepEqual(a.flatMap((l, i) => (l === b[i] ? [] : [i])), [2], 'only the opening paragraph (line 3) differs');
});
