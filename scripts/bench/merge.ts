// `--merge`: puts sections of a partial benchmark run into an existing report, keeping the other sections' figures.

/** A report cut at its `## ` headings: the text before the first one, then each heading with its body. */
function blocks(doc: string): { head: string; parts: { heading: string; text: string }[] } {
  const [head, ...rest] = doc.split(/^(?=## )/m);
  return { head, parts: rest.map((text) => ({ heading: text.split('\n', 1)[0], text })) };
}

/** The section number of a `## 3. Title` heading, or null for `## Machine`, `## Targets`. */
const sectionNumber = (heading: string): number | null => {
  const m = /^## (\d+)\./.exec(heading);
  return m ? Number(m[1]) : null;
};

/** The section number in the first cell of a Targets row (`| 3 | ... |`), or null for other lines. */
const rowSection = (line: string): number | null => {
  const m = /^\| (\d+) \|/.exec(line);
  return m ? Number(m[1]) : null;
};

const RERUN_NOTE = / Sections? [\d, ]+ (?:was|were) rerun alone later[^\n]*?under what load\)\./;

/**
 * Replaces sections `numbers` of `existing` (a report written by run.ts) with those of `fresh` (a report of a run of
 * only those sections): their `## N.` blocks and their rows of the Targets table, in section order. Everything else
 * is kept as it was, and the opening paragraph says which sections were rerun. Throws when `fresh` lacks a section.
 */
export function mergeReport(existing: string, fresh: string, numbers: readonly number[], command: string): string {
  const old = blocks(existing);
  const neu = blocks(fresh);
  const wanted = new Set(numbers);
  const freshSections = new Map(neu.parts.filter((p) => wanted.has(sectionNumber(p.heading) ?? -1)).map((p) => [sectionNumber(p.heading)!, p]));
  for (const n of numbers) if (!freshSections.has(n)) throw new Error(`the new report has no section ${n}`);
  const freshRows = (neu.parts.find((p) => p.heading === '## Targets')?.text ?? '').split('\n').filter((l) => wanted.has(rowSection(l) ?? -1));

  const parts = old.parts.filter((p) => !wanted.has(sectionNumber(p.heading) ?? -1)).map((p) => {
    if (p.heading !== '## Targets') return p;
    const lines = p.text.split('\n');
    const sep = lines.findIndex((l) => l.startsWith('|---'));
    const header = lines.slice(0, sep + 1);
    const kept = lines.slice(sep + 1).filter((l) => rowSection(l) !== null && !wanted.has(rowSection(l)!));
    const rows = [...kept, ...freshRows].sort((a, b) => rowSection(a)! - rowSection(b)!); // stable: row order kept within a section
    const rest = lines.slice(sep + 1).filter((l) => !l.startsWith('|'));
    return { ...p, text: [...header, ...rows, ...rest].join('\n') };
  });
  for (const [n, p] of [...freshSections.entries()].sort((a, b) => a[0] - b[0])) {
    const at = parts.findIndex((q) => (sectionNumber(q.heading) ?? -1) > n);
    parts.splice(at < 0 ? parts.length : at, 0, p);
  }

  const list = [...wanted].sort((a, b) => a - b).join(', ');
  const note = ` Section${wanted.size > 1 ? 's' : ''} ${list} ${wanted.size > 1 ? 'were' : 'was'} rerun alone later by \`${command}\` ` +
    '(its own first line gives when, on which source and under what load).';
  const [title, opening, ...after] = old.head.split('\n\n');
  const head = [title, (opening ?? '').replace(RERUN_NOTE, '') + note, ...after].join('\n\n');
  // Blocks are separated by one blank line wherever they came from (the last block of a report ends with one newline).
  return (head.trimEnd() + '\n\n' + parts.map((p) => `${p.text.trimEnd()}\n\n`).join('')).trimEnd() + '\n';
}
