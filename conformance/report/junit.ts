// The JUnit XML report (--junit FILE) for CI dashboards: <testsuites>, a <testsuite> per
// profile, a <testcase> per requirement. A failed requirement carries <failure> with the
// violation and the counterexample; an undecided one <error> with the reason and the
// steps so far. A profile whose verdict no requirement row carries gets a testcase of
// its own, so a dashboard never shows a failing run as green.
import type { ProfileResult } from '../engine/run-profile.ts';
import { configLine, crashLines, overallVerdict, replayCommand, requirementText, shorten, shrinkStoppedText, sortedRequirements, traceLines, violationSummary, type ReportContext } from './common.ts';

// Everything outside XML 1.0's Char production becomes U+FFFD.
const NOT_XML_CHAR = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Escapes text content. */
export function xmlText(s: string): string {
  return s.replace(NOT_XML_CHAR, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escapes an attribute value (double-quoted); line breaks survive attribute normalisation. */
export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');
}

function failureBody(r: ProfileResult, ctx: ReportContext): string {
  const ce = r.counterexample;
  const lines: string[] = [];
  if (ce === undefined) lines.push('does not conform, but the engine recorded no counterexample');
  else {
    lines.push(
      violationSummary(ce.violation),
      ...crashLines(ce.crash),
      '',
      `counterexample (${ce.steps.length} steps):`,
      ...(r.shrinkStopped === undefined ? [] : [`(${shrinkStoppedText(r.shrinkStopped)})`]),
      ...traceLines(ce.steps),
      '',
      `config: ${configLine(ce.config)}`,
    );
  }
  const cmd = replayCommand(r, ctx);
  if (cmd !== undefined) lines.push(`replay: ${cmd}`);
  return lines.join('\n');
}

function undecidedBody(r: ProfileResult, ctx: ReportContext): string {
  const u = r.undecided;
  if (u === undefined) return 'undecided: the engine gave no reason';
  const cmd = replayCommand(r, ctx);
  const title = cmd !== undefined ? `steps (${u.steps.length}, shrunk: the replay command runs them again):` : `steps so far (${u.steps.length}):`;
  return [`undecided: ${u.message}`, '', title, ...traceLines(u.steps), ...(cmd === undefined ? [] : ['', `replay: ${cmd}`])].join('\n');
}

function failureMessage(r: ProfileResult): string {
  return r.counterexample === undefined ? 'does not conform (no counterexample recorded)' : violationSummary(r.counterexample.violation);
}

function undecidedMessage(r: ProfileResult): string {
  return r.undecided?.message ?? 'undecided';
}

function suite(r: ProfileResult, ctx: ReportContext): { xml: string; tests: number; failures: number; errors: number } {
  const cases: string[] = [];
  let failures = 0;
  let errors = 0;
  // A contract other than strict names its own suite (a run may check one profile under several contracts).
  const suiteName = r.contract === undefined || r.contract.name === 'strict' ? r.name : `${r.name} (${r.contract.name})`;
  const classname = `dirtyspec.${r.name}${suiteName === r.name ? '' : `.${r.contract!.name}`}`;
  const failure = () => `      <failure${attrs({ message: failureMessage(r), type: r.counterexample?.violation.kind ?? 'does-not-conform' })}>${xmlText(failureBody(r, ctx))}</failure>\n`;
  const error = () => `      <error${attrs({ message: undecidedMessage(r), type: 'undecided' })}>${xmlText(undecidedBody(r, ctx))}</error>\n`;
  for (const q of sortedRequirements(r)) {
    const name = `[${q.id}] ${shorten(requirementText(q.id), 100)}`;
    const open = `    <testcase${attrs({ classname, name })}`;
    if (q.verdict === 'fail') {
      failures++;
      cases.push(`${open}>\n${failure()}    </testcase>`);
    } else if (q.verdict === 'undecided') {
      errors++;
      cases.push(`${open}>\n${error()}    </testcase>`);
    } else cases.push(`${open}/>`);
  }
  // A verdict that no requirement row carries still shows.
  const open = `    <testcase${attrs({ classname, name: `${r.name} verdict` })}`;
  if (r.verdict === 'does-not-conform' && failures === 0) {
    failures++;
    cases.push(`${open}>\n${failure()}    </testcase>`);
  } else if (r.verdict === 'undecided' && errors === 0) {
    errors++;
    cases.push(`${open}>\n${error()}    </testcase>`);
  }
  const properties = [
    ['adapter', r.adapter],
    ...(r.contract === undefined ? [] : [['contract', r.contract.name], ...(r.contract.declared === undefined ? [] : [['contract.declared', r.contract.declared]])]),
    ...(r.contract === undefined ? [] : r.contract.hazards.map((h) => [`hazard.${h.id}`, `${h.onImplementation}; ${h.title}`])),
    ['verdict', r.verdict],
    ['seed', String(r.seed)],
    ['runs', String(r.runs)],
    ...(r.directedRuns === undefined ? [] : [['directedRuns', String(r.directedRuns)]]),
    ['commands', String(r.commands)],
    ...Object.entries(r.transitionCoverage).map(([m, c]) => [`coverage.${m}`, `${c.covered}/${c.total}`]),
  ];
  const replay = replayCommand(r, ctx);
  if (replay !== undefined) properties.push(['replay', replay]);
  const props = properties.map(([name, value]) => `      <property${attrs({ name: name!, value: value! })}/>`).join('\n');
  const tests = cases.length;
  const xml = `  <testsuite${attrs({ name: suiteName, tests, failures, errors, skipped: 0, time: r.seconds })}>\n    <properties>\n${props}\n    </properties>\n${cases.map((c) => `${c}\n`).join('')}  </testsuite>\n`;
  return { xml, tests, failures, errors };
}

export function junitReport(results: readonly ProfileResult[], ctx: ReportContext = {}): string {
  const suites = results.map((r) => suite(r, ctx));
  const sum = (k: 'tests' | 'failures' | 'errors') => suites.reduce((a, s) => a + s[k], 0);
  const time = Math.round(results.reduce((a, r) => a + r.seconds, 0) * 100) / 100;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<testsuites${attrs({ name: `dirtyspec: ${overallVerdict(results)}`, tests: sum('tests'), failures: sum('failures'), errors: sum('errors'), time })}>\n` +
    suites.map((s) => s.xml).join('') +
    '</testsuites>\n'
  );
}
