// What every benchmark section hands back (markdown and target checks), and the helpers that build it.
import { fmt } from './stats.ts';

/** One stated goal, the value the run measured, and by how much it was missed (when it was). */
export interface TargetCheck {
  what: string;
  target: string;
  measured: string;
  /** null: the run could not check it (quick mode, a missing data set). */
  met: boolean | null;
  /** Set when missed: e.g. "missed by 38% (measured 3.1x, target 5x)". */
  shortfall?: string;
}

export interface SectionResult {
  id: string;
  title: string;
  /** Markdown blocks (paragraphs and tables), in order. */
  body: string[];
  targets: TargetCheck[];
}

export interface SectionOptions {
  quick: boolean;
  log: (msg: string) => void;
}

export type Section = (opts: SectionOptions) => Promise<SectionResult>;

const cell = (v: string | number): string => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const lines = [
    `| ${headers.map(cell).join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** A target of the form measured >= target (higher is better). */
export function atLeast(what: string, measured: number, target: number, show: (v: number) => string = fmt): TargetCheck {
  const met = measured >= target;
  const check: TargetCheck = { what, target: `>= ${show(target)}`, measured: show(measured), met };
  if (!met) {
    const short = Number.isFinite(measured) ? `${((1 - measured / target) * 100).toFixed(0)}% short` : 'not measured';
    check.shortfall = `${short} (measured ${show(measured)} vs ${show(target)}; needs ${fmt(target / measured)}x more)`;
  }
  return check;
}

/** A target of the form measured <= target (lower is better). */
export function atMost(what: string, measured: number, target: number, show: (v: number) => string = fmt): TargetCheck {
  const met = measured <= target;
  const check: TargetCheck = { what, target: `<= ${show(target)}`, measured: show(measured), met };
  if (!met) {
    const over = Number.isFinite(measured) ? `${((measured / target - 1) * 100).toFixed(0)}% over` : 'not measured';
    check.shortfall = `${over} (measured ${show(measured)} vs ${show(target)}; needs ${fmt(measured / target)}x less)`;
  }
  return check;
}

/** A target the run could not check (quick mode, missing data set); says why. */
export function notChecked(what: string, target: string, why: string): TargetCheck {
  return { what, target, measured: `not measured: ${why}`, met: null };
}
