// The HTML report's page: escaping, the document shell with its style sheet and a small
// inline script (hovering a step highlights its arrows), and a Content-Security-Policy
// that forbids every network request: the file is self-contained and stays so.
import { createHash } from 'node:crypto';

/**
 * Escapes text for HTML element content and double- or single-quoted attribute values.
 * Control and bidirectional-formatting characters (an implementation's name or answer may
 * hold them, to reorder or hide what is around them) are shown as \uXXXX; newlines and
 * tabs stay.
 */
export function esc(text: string): string {
  return (
    text
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  );
}

/** A string safe as an id or class fragment: letters, digits, `-` and `_`. */
export function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]+/g, '_');
}

/** Nothing may be fetched: no network, no external assets; inline style and script only. */
export function csp(): string {
  // The one inline script is allowed by its hash: a mistake in escaping cannot run a script.
  const hash = createHash('sha256').update(SCRIPT, 'utf8').digest('base64');
  return `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${hash}'; img-src data:; base-uri 'none'; form-action 'none'`;
}

const STYLE = `
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --path: #0969da; --path-bg: #ddf4ff;
  --bad: #cf222e; --bad-bg: #ffebe9; --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1700px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 0; } h3 { font-size: 15px; margin: 18px 0 6px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.meta { color: var(--muted); margin: 0 0 12px; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; vertical-align: 2px; white-space: nowrap; }
.v-conforms, .v-pass, .v-killed { background: var(--ok-bg); color: var(--ok); }
.v-does-not-conform, .v-fail, .v-survived { background: var(--bad-bg); color: var(--bad); }
.v-undecided { background: var(--warn-bg); color: var(--warn); }
.v-unreached { background: var(--soft); color: var(--muted); }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; font-size: 12px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
section.profile, section.mutant { border: 1px solid var(--line); border-radius: 8px; margin: 20px 0; padding: 14px 18px; }
section.profile > header, section.mutant > header { display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; }
.bar { display: inline-block; width: 120px; height: 8px; background: var(--bad-bg); border-radius: 4px; overflow: hidden; vertical-align: middle; }
.bar > span { display: block; height: 100%; background: var(--ok); }
details > summary { cursor: pointer; color: var(--muted); margin: 6px 0; }
.missing { color: var(--muted); font-size: 12px; }
.violation { border-left: 4px solid var(--bad); background: var(--bad-bg); padding: 8px 12px; margin: 12px 0; border-radius: 0 6px 6px 0; overflow-wrap: anywhere; }
.violation .kind { font-weight: 700; color: var(--bad); }
.undecided-box { border-left: 4px solid var(--warn); background: var(--warn-bg); padding: 8px 12px; margin: 12px 0; overflow-wrap: anywhere; white-space: pre-wrap; }
td { overflow-wrap: anywhere; }
.ce-grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 20px; align-items: start; }
.ce-grid > .steps { position: sticky; top: 0; max-height: 100vh; overflow-y: auto; }
@media (max-width: 1299px) { .ce-grid { grid-template-columns: minmax(0, 1fr); } .ce-grid > .steps { position: static; max-height: none; } }
table.trace { width: 100%; font-size: 12px; table-layout: fixed; }
table.trace td { overflow-wrap: anywhere; white-space: pre-wrap; }
table.trace td.req, table.trace td.n { overflow-wrap: normal; }
.id, table.requirements code { white-space: nowrap; }
table.trace col.n { width: 5.2em; } table.trace col.op { width: 25%; } table.trace col.answer, table.trace col.expected { width: 15%; }
table.trace col.taken { width: 28%; } table.trace col.req { width: 17%; }
table.trace.plain col.op { width: 36%; } table.trace.plain col.answer, table.trace.plain col.expected { width: 24%; } table.trace.plain col.req { width: 16%; }
table.trace th { overflow-wrap: normal; hyphens: auto; }
tr.step:hover, tr.step.hover { background: #fff8c5; }
tr.step.violating { background: var(--bad-bg); box-shadow: inset 4px 0 0 var(--bad); }
tr.step.violating td.n { color: var(--bad); font-weight: 700; }
tr.gap td { text-align: center; color: var(--muted); font-style: italic; }
.mark { display: inline-block; margin-top: 2px; padding: 0 5px; border-radius: 8px; background: var(--bad); color: #fff; font-size: 10px; font-weight: 700; white-space: nowrap; }
ul.taken { list-style: none; margin: 0; padding: 0; }
ul.taken li { margin-bottom: 2px; }
ul.taken .m { color: var(--muted); }
ul.taken .ev { color: var(--path); font-weight: 600; }
tr.violating ul.taken .ev { color: var(--bad); }
figure.machine { margin: 0 0 16px; border: 1px solid var(--line); border-radius: 8px; padding: 8px; background: #fff; }
figure.machine figcaption { font-weight: 600; margin-bottom: 4px; }
figure.machine figcaption .missing { font-weight: 400; }
figure.machine svg { width: 100%; height: auto; display: block; }
.legend { font-size: 12px; color: var(--muted); margin: 4px 0 10px; }
.legend .sw { display: inline-block; width: 18px; height: 3px; vertical-align: middle; margin: 0 4px 0 10px; }
svg g.edge.hover path { stroke: #bf8700; stroke-width: 4px; }
svg g.edge.hover polygon { fill: #bf8700; stroke: #bf8700; }
.replay { background: var(--soft); padding: 6px 10px; border-radius: 6px; overflow-x: auto; white-space: pre; }
nav.toc a { margin-right: 12px; }
`;

/** Hovering or focusing a step row outlines the arrows that step took, in the same section. */
const SCRIPT = `
document.querySelectorAll('tr.step[data-step]').forEach(function (row) {
  var box = row.closest('.counterexample');
  if (!box) return;
  var edges = box.querySelectorAll('g.edge.step-' + row.getAttribute('data-step'));
  function on() { row.classList.add('hover'); edges.forEach(function (e) { e.classList.add('hover'); }); }
  function off() { row.classList.remove('hover'); edges.forEach(function (e) { e.classList.remove('hover'); }); }
  row.addEventListener('mouseenter', on); row.addEventListener('mouseleave', off);
  row.addEventListener('focus', on); row.addEventListener('blur', off);
});
`;

/** The whole document around `body` (already HTML). */
export function page(title: string, body: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${esc(csp())}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="dirtyspec">',
    `<title>${esc(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main>',
    body,
    '</main>',
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

export function badge(kind: string, text: string): string {
  return `<span class="badge v-${slug(kind)}">${esc(text)}</span>`;
}
