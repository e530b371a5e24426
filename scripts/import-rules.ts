// The layering rules, checked on the source: which folder may import from which.
// `moduleReferences` finds every module specifier in a TypeScript or JavaScript file
// (static `import ... from`, side-effect `import '...'`, `export ... from`, dynamic and
// type-level `import('...')`, `import x = require('...')`), skipping comments, strings,
// template text and regular expressions; `checkImportRules` resolves each relative
// specifier against its file and names the file, the line and the rule it breaks.
import { type Dirent, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

export interface ModuleReference {
  readonly specifier: string;
  /** 1-based line of the specifier. */
  readonly line: number;
  readonly form: 'import' | 'export' | 'import()' | 'require' | '/// <reference>';
}

export interface Token {
  readonly kind: 'name' | 'string' | 'punct' | 'other' | 'reference';
  readonly value: string;
  readonly line: number;
}

/** After these words a `/` starts a regular expression, not a division. */
const BEFORE_EXPRESSION = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);
const NAME_START = /[\p{ID_Start}$_\\]/u;
const NAME_PART = /[\p{ID_Continue}$\\]|\u200c|\u200d/u;

/** The tokens a specifier search needs; template text and regular expressions become `other`. */
export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  // Brace depth inside each open `${ ... }` of a template literal, innermost last.
  const templates: number[] = [];
  let i = src.startsWith('#!') ? src.indexOf('\n') : 0;
  if (i < 0) i = src.length;
  let line = 1;
  const push = (kind: Token['kind'], value: string, at: number) => tokens.push({ kind, value, line: at });

  /** Template text from just after '`' or '}' to the closing '`' (returns true) or a '${' (returns false). */
  const templateText = (): boolean => {
    for (; i < src.length; i++) {
      const c = src[i];
      if (c === '\\') i++;
      else if (c === '\n') line++;
      else if (c === '`') {
        i++;
        return true;
      } else if (c === '$' && src[i + 1] === '{') {
        i += 2;
        return false;
      }
    }
    return true;
  };

  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\ufeff' || c === '\u00a0' || c === '\u2028' || c === '\u2029') {
      i++;
    } else if (c === '/' && src[i + 1] === '/') {
      const start = i;
      while (i < src.length && src[i] !== '\n') i++;
      // A triple-slash directive is a dependency too: /// <reference path="../x.ts" />
      const ref = /^\/\/\/\s*<reference\s+path\s*=\s*(['"])(.*?)\1/.exec(src.slice(start, i));
      if (ref !== null) push('reference', ref[2]!, line);
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      for (; i < stop; i++) if (src[i] === '\n') line++;
    } else if (c === "'" || c === '"') {
      const at = line;
      let value = '';
      for (i++; i < src.length && src[i] !== c && src[i] !== '\n'; i++) {
        if (src[i] === '\\') {
          i++;
          if (src[i] === '\n') line++;
          value += src[i] ?? '';
        } else value += src[i];
      }
      i++;
      push('string', value, at);
    } else if (c === '`') {
      const at = line;
      const start = ++i;
      const closed = templateText();
      if (closed) {
        const text = src.slice(start, i - 1);
        // A template without substitutions is a string (`import(\`./x.ts\`)` is a literal specifier).
        push(text.includes('\\') ? 'other' : 'string', text, at);
      } else {
        push('other', '`', at);
        templates.push(0);
      }
    } else if (c === '}' && templates.length > 0 && templates[templates.length - 1] === 0) {
      templates.pop();
      i++;
      if (!templateText()) templates.push(0);
      push('other', '`', line);
    } else if (c === '/' && regexMayStart(tokens[tokens.length - 1])) {
      const end = regexEnd(src, i);
      if (end < 0) {
        push('punct', c, line);
        i++;
      } else {
        push('other', src.slice(i, end), line);
        i = end;
      }
    } else if (NAME_START.test(c)) {
      const start = i;
      for (i++; i < src.length && NAME_PART.test(src[i]!); i++);
      push('name', src.slice(start, i), line);
    } else if (c >= '0' && c <= '9') {
      const start = i;
      for (i++; i < src.length && /[0-9A-Za-z_.]/.test(src[i]!); i++);
      push('other', src.slice(start, i), line);
    } else {
      if (templates.length > 0) {
        if (c === '{') templates[templates.length - 1]!++;
        else if (c === '}') templates[templates.length - 1]!--;
      }
      push('punct', c, line);
      i++;
    }
  }
  return tokens;
}

function regexMayStart(prev: Token | undefined): boolean {
  if (prev === undefined || prev.kind === 'reference') return true;
  if (prev.kind === 'name') return BEFORE_EXPRESSION.has(prev.value);
  if (prev.kind === 'punct') return prev.value !== ')' && prev.value !== ']' && prev.value !== '}';
  return false;
}

/** The index just past a regular expression literal starting at `start` ('/'), or -1 when none ends on this line. */
function regexEnd(src: string, start: number): number {
  let inClass = false;
  for (let i = start + 1; i < src.length; i++) {
    const c = src[i];
    if (c === '\n') return -1;
    if (c === '\\') i++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) {
      let j = i + 1;
      while (j < src.length && /[a-z]/.test(src[j]!)) j++;
      return j;
    }
  }
  return -1;
}

const CLAUSE_PUNCT = new Set(['{', '}', ',', '*']);

/** Every module specifier in `src`, in order. A dynamic `import(expr)` whose argument is not a literal is left out: no path can be known. */
export function moduleReferences(src: string): ModuleReference[] {
  const t = tokenize(src);
  const out: ModuleReference[] = [];
  const at = (k: number): Token | undefined => t[k];
  const is = (k: number, kind: Token['kind'], value?: string) => at(k)?.kind === kind && (value === undefined || at(k)?.value === value);
  /** `{ a, type b as c } from 'x'`, `* as ns from 'x'`, `d, { e } from 'x'`: the string after `from`, scanning from k. */
  const fromClause = (k: number, form: ModuleReference['form']): void => {
    for (let j = k; j < t.length; j++) {
      const tok = t[j]!;
      if (tok.kind === 'name' && tok.value === 'from' && is(j + 1, 'string')) {
        out.push({ specifier: t[j + 1]!.value, line: t[j + 1]!.line, form });
        return;
      }
      if (tok.kind === 'name' || (tok.kind === 'punct' && CLAUSE_PUNCT.has(tok.value))) continue;
      // import x = require('y')
      if (form === 'import' && tok.kind === 'punct' && tok.value === '=' && is(j + 1, 'name', 'require') && is(j + 2, 'punct', '(') && is(j + 3, 'string')) {
        out.push({ specifier: t[j + 3]!.value, line: t[j + 3]!.line, form: 'require' });
      }
      return;
    }
  };
  for (let k = 0; k < t.length; k++) {
    const tok = t[k]!;
    if (tok.kind === 'reference') out.push({ specifier: tok.value, line: tok.line, form: '/// <reference>' });
    if (tok.kind !== 'name' || is(k - 1, 'punct', '.')) continue;
    if (tok.value === 'import') {
      if (is(k + 1, 'punct', '(')) {
        if (is(k + 2, 'string') && (is(k + 3, 'punct', ')') || is(k + 3, 'punct', ','))) out.push({ specifier: t[k + 2]!.value, line: t[k + 2]!.line, form: 'import()' });
      } else if (is(k + 1, 'string')) out.push({ specifier: t[k + 1]!.value, line: t[k + 1]!.line, form: 'import' });
      else if (is(k + 1, 'name') || is(k + 1, 'punct', '{') || is(k + 1, 'punct', '*')) fromClause(k + 1, 'import');
    } else if (tok.value === 'export' && (is(k + 1, 'punct', '{') || is(k + 1, 'punct', '*') || (is(k + 1, 'name', 'type') && (is(k + 2, 'punct', '{') || is(k + 2, 'punct', '*'))))) {
      fromClause(k + 1, 'export');
    }
  }
  return out;
}

/** The folders the rules are about; anything else (bench/, scripts/, bin/) may import anything. */
export const LAYERS = ['spec', 'model', 'impl', 'conformance'] as const;
export type Layer = (typeof LAYERS)[number];

export interface LayerRule {
  /** The other folders its files may import from (its own always). */
  readonly may: readonly Layer[];
  /** What its test files (`*.test.ts`) may import on top. */
  readonly testsMay: readonly Layer[];
  readonly text: string;
}

export const RULES: Readonly<Record<Layer, LayerRule>> = {
  spec: { may: [], testsMay: [], text: 'spec/ imports nothing else in the repository' },
  model: { may: ['spec'], testsMay: [], text: 'model/ imports spec/ only (nothing from impl/ or conformance/)' },
  // A test of impl/ may use the spec's pure functions as its oracle: impl/ itself stays free of them.
  impl: { may: [], testsMay: ['spec'], text: 'impl/ imports nothing from spec/, model/ or conformance/ (its tests may use spec/ as the oracle)' },
  conformance: { may: ['spec', 'model'], testsMay: [], text: 'conformance/ imports spec/ and model/, and reaches impl/ only through conformance/adapters/reference.ts and conformance/mutants/' },
};

/** conformance/ reaches impl/ only through these (tests included): the reference adapter and the mutant zoo. */
export const IMPL_GATES: readonly string[] = ['conformance/adapters/reference.ts', 'conformance/mutants/'];

/** Single files allowed past their folder's rule, each with why. A test fails when one is no longer needed. */
export type Exceptions = Readonly<Record<string, { readonly may: readonly Layer[]; readonly why: string }>>;

export const EXCEPTIONS: Exceptions = {
  'model/migration/migration-client.test.ts': { may: ['impl'], why: 'runs the migration client against the reference VFIO type1 container, a real system to migrate' },
};

export interface ImportViolation {
  /** Repository-relative, with '/'. */
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  /** The resolved repository-relative path, or what it is when it is not a path in the repository. */
  readonly target: string;
  readonly rule: string;
}

export function formatViolation(v: ImportViolation): string {
  return `${v.file}:${v.line}: imports '${v.specifier}' (${v.target}): ${v.rule}`;
}

const SOURCE = /\.[cm]?[jt]s$/;
const TEST = /\.test\.[cm]?[jt]s$/;

/**
 * The files under `dir` (a posix path from `root`) whose names `keep` accepts, pushed to
 * `out` as paths from `root`; node_modules, dot entries and the folders `skipDir` names are
 * passed over, and a missing `dir` has none.
 */
export function filesUnder(root: string, dir: string, keep: (name: string) => boolean, out: string[], skipDir: (name: string) => boolean = () => false): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const rel = posix.join(dir, e.name);
    if (e.isDirectory()) {
      if (!skipDir(e.name)) filesUnder(root, rel, keep, out, skipDir);
    } else if (e.isFile() && keep(e.name)) out.push(rel);
  }
}

function sourceFiles(root: string, dir: string, out: string[]): void {
  filesUnder(root, dir, (name) => SOURCE.test(name) && !name.endsWith('.d.ts'), out);
}

function layerOf(path: string): Layer | undefined {
  const top = path.split('/')[0];
  return LAYERS.find((l) => l === top);
}

interface Verdict {
  readonly target: string;
  /** The rule broken; undefined when allowed. */
  readonly rule?: string;
  /** Allowed only by this file's entry in the exceptions. */
  readonly byException?: true;
}

/** What package.json says about importing the package by its own name. */
export interface PackageInfo {
  readonly name?: string;
  readonly exports?: unknown;
  readonly imports?: unknown;
}

/** Every file a package.json exports or imports target can be, whatever the conditions; [] when the subpath is not there. */
function mapTargets(map: unknown, subpath: string): string[] {
  if (map === undefined || map === null) return [];
  if (typeof map === 'string' || Array.isArray(map) || !Object.keys(map).some((k) => k.startsWith('.') || k.startsWith('#'))) {
    return subpath === '.' ? conditionTargets(map) : [];
  }
  const entries = map as Record<string, unknown>;
  if (subpath in entries) return conditionTargets(entries[subpath]);
  for (const [key, value] of Object.entries(entries)) {
    const star = key.indexOf('*');
    if (star < 0) continue;
    const [pre, post] = [key.slice(0, star), key.slice(star + 1)];
    if (subpath.startsWith(pre) && subpath.endsWith(post) && subpath.length >= key.length - 1) {
      const part = subpath.slice(pre.length, subpath.length - post.length);
      return conditionTargets(value).map((t) => t.replaceAll('*', part));
    }
  }
  return [];
}

function conditionTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(conditionTargets);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(conditionTargets);
  return [];
}

/**
 * Whether `file` (repository-relative) may import `specifier`. A self-reference by the
 * package's name (`dirtyspec/reference`) or a `#` subpath import is checked at every file its
 * package.json entry can resolve to, whatever the conditions; the build output mirrors the
 * sources (scripts/build.js), so `dist/<folder>/` counts as `<folder>/`.
 */
export function checkReference(file: string, specifier: string, pkg: PackageInfo | undefined, exceptions: Exceptions = EXCEPTIONS): Verdict {
  const from = layerOf(file);
  if (from === undefined) return { target: specifier };
  const rule = RULES[from];
  const self = pkg?.name !== undefined && (specifier === pkg.name || specifier.startsWith(`${pkg.name}/`));
  if (self || specifier.startsWith('#')) {
    const targets = self ? mapTargets(pkg?.exports, `.${specifier.slice(pkg!.name!.length)}`) : mapTargets(pkg?.imports, specifier);
    if (targets.length === 0) return { target: 'not in package.json "exports"/"imports"', rule: `${rule.text}; a self-reference must resolve through package.json` };
    let allowed: Verdict = { target: specifier };
    for (const t of targets) {
      const v = checkPath(file, from, posix.normalize(t).replace(/^dist\//, ''), exceptions);
      if (v.rule !== undefined) return { target: `${t} by package.json`, rule: v.rule };
      if (v.byException) allowed = v;
    }
    return allowed;
  }
  if (specifier.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(specifier)) {
    if (specifier.startsWith('node:')) return { target: specifier };
    return { target: 'an absolute path or URL', rule: `${rule.text}; import by relative path` };
  }
  if (!specifier.startsWith('./') && !specifier.startsWith('../') && specifier !== '.' && specifier !== '..') return { target: specifier }; // a package
  return checkPath(file, from, posix.normalize(posix.join(posix.dirname(file), specifier)), exceptions);
}

function checkPath(file: string, from: Layer, target: string, exceptions: Exceptions): Verdict {
  const rule = RULES[from];
  if (target === '..' || target.startsWith('../')) return { target: 'outside the repository', rule: `${rule.text}; nothing outside the repository` };
  const to = layerOf(target);
  if (to === from) return { target };
  if (to !== undefined) {
    if (rule.may.includes(to) || (TEST.test(file) && rule.testsMay.includes(to))) return { target };
    if (from === 'conformance' && to === 'impl' && IMPL_GATES.some((g) => (g.endsWith('/') ? file.startsWith(g) : file === g))) return { target };
    if (exceptions[file]?.may.includes(to)) return { target, byException: true };
  }
  return { target, rule: rule.text };
}

export interface ImportRulesResult {
  readonly violations: readonly ImportViolation[];
  /** Files in the exceptions that no longer import anything only their exception allows (or no longer exist). */
  readonly unusedExceptions: readonly string[];
  /** How many files and module references were read. */
  readonly files: number;
  readonly references: number;
}

/** Every import in spec/, model/, impl/ and conformance/ under `root` that breaks a rule. */
export function checkImportRules(root: string, exceptions: Exceptions = EXCEPTIONS): ImportRulesResult {
  let pkg: PackageInfo | undefined;
  try {
    pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageInfo;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const files: string[] = [];
  for (const layer of LAYERS) sourceFiles(root, layer, files);
  const violations: ImportViolation[] = [];
  const used = new Set<string>();
  let references = 0;
  for (const file of files) {
    for (const ref of moduleReferences(readFileSync(join(root, file), 'utf8'))) {
      references++;
      const v = checkReference(file, ref.specifier, pkg, exceptions);
      if (v.byException) used.add(file);
      if (v.rule !== undefined) violations.push({ file, line: ref.line, specifier: ref.specifier, target: v.target, rule: v.rule });
    }
  }
  return { violations, unusedExceptions: Object.keys(exceptions).filter((f) => !used.has(f)), files: files.length, references };
}
