// Module-level mutable state in the engine and the model, found on the source (issue 10:
// two runs in one process must share nothing). A module's top level may hold constants; a
// run's state lives in its own objects (model/run-context.ts RunContext, the run's options,
// conformance/engine/call-watch.ts CallWatch). Found, with the tokens import-rules.ts reads:
// - a `let` or `var` at a module's top level;
// - a class's `static` field that is not `readonly`;
// - a top-level binding (a `const`, a function, a class) whose contents are changed, in its
//   own module or in one that imports it: a property or element assigned (`=`, `+=`, `++`,
//   `delete`), a mutating method called on it or on what it holds (`x.set(`, `x.a.push(`,
//   `x.get(k).add(`), or `Object.assign(x, ...)`.
// Not found: a mutation through an alias (`const m = X; m.set(...)`) or inside a function it
// is passed to, or `this.field` of a static method. A name a function declares again is
// still read as the module's; an allowance (EXPECTED) names such a case with its reason.
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { filesUnder, type Token, tokenize } from './import-rules.ts';

/** The folders whose modules must hold no mutable state (issue 10), and where importers are read. */
export const STATE_FREE = ['conformance/engine', 'conformance/campaign', 'conformance/profiles', 'model'] as const;
const IMPORTERS = ['spec', 'model', 'impl', 'conformance', 'bench', 'scripts'] as const;

export interface StateFinding {
  readonly file: string;
  readonly line: number;
  /** The top-level name (`Class.field` for a static field). */
  readonly name: string;
  readonly what: string;
}

/** Reviewed findings: `file: name` (as `formatFinding` prints them before the line) -> why it may stay. */
export type Allowances = Readonly<Record<string, string>>;

/**
 * What the engine and the model hold at module level that is written after load, each
 * reviewed: memos keyed by objects that never change (table snapshots, machines, table
 * entries), whose value is a function of the key alone, so no run sees another's. They are
 * still state written after load (issue 10 asks for none): each names where it could go.
 */
export const EXPECTED: Allowances = {
  'model/run-context.ts: compiled':
    "compiledTable: each machine's TransitionTable, built on first use and shared by every run of the process; a table fills each entry on its first use (model/transition-table.ts fill; the whole table for a state no step has reached) and keeps a one-entry event-key memo (lastEvent): what it answers is a function of the machine and its events alone. Keyed by the machine and the alphabet array, so another alphabet gets a table of its own. It could be built at load, beside each machine's events",
  'model/transition-table.ts: keys': "stateKey: JSON of a snapshot's state value, memoised per snapshot object (a WeakMap); the value is a function of the unchanging snapshot",
  'model/vfio/prediction.ts: predictions': "predict: each vfio-type1 table entry's Prediction, made on first use (a WeakMap); the value is a function of the unchanging entry; it could be made with the entry by the table",
};

/** Methods that change the object they are called on (Map, Set, WeakMap, WeakSet, Array, typed arrays). */
const MUTATORS = new Set(['set', 'add', 'delete', 'clear', 'push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin']);
/** Calls that hand back what an object holds (not a copy): a chain through them still reaches the module's object. */
const HOLDING = new Set(['get', 'at']);
const OBJECT_MUTATORS = new Set(['assign', 'defineProperty', 'defineProperties', 'setPrototypeOf']);
/** Punctuation that, right before `=`, makes a compound assignment (`>` and `<` only when doubled: `>=` compares). */
const COMPOUND = new Set(['+', '-', '*', '/', '%', '&', '|', '^', '?']);

const isP = (t: Token | undefined, v: string) => t?.kind === 'punct' && t.value === v;
const isN = (t: Token | undefined, v?: string) => t?.kind === 'name' && (v === undefined || t.value === v);

/** The top-level declarations of a module, and its `let`/`var` and non-readonly static fields. */
export function topLevel(tokens: readonly Token[]): { bindings: Map<string, number>; findings: { line: number; name: string; what: string }[] } {
  const bindings = new Map<string, number>();
  const findings: { line: number; name: string; what: string }[] = [];
  let depth = 0;
  /** The depth just inside a top-level class's body, while in it, and its name. */
  let classBody: { depth: number; name: string } | undefined;
  let pendingClass: string | undefined;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind === 'punct' && (t.value === '{' || t.value === '(' || t.value === '[')) {
      depth++;
      if (t.value === '{' && pendingClass !== undefined && depth === 1) {
        classBody = { depth: 1, name: pendingClass };
        pendingClass = undefined;
      }
      continue;
    }
    if (t.kind === 'punct' && (t.value === '}' || t.value === ')' || t.value === ']')) {
      depth--;
      if (classBody !== undefined && depth < classBody.depth) classBody = undefined;
      continue;
    }
    if (t.kind !== 'name' || isP(tokens[k - 1], '.')) continue;
    if (depth === 0) {
      if ((t.value === 'let' || t.value === 'var') && isN(tokens[k + 1])) {
        if (isN(tokens[k - 1], 'declare')) continue;
        findings.push({ line: t.line, name: tokens[k + 1]!.value, what: `a top-level \`${t.value}\`` });
        bindings.set(tokens[k + 1]!.value, t.line);
      } else if (t.value === 'const' && isN(tokens[k + 1]) && !isN(tokens[k + 1], 'enum')) bindings.set(tokens[k + 1]!.value, t.line);
      else if (t.value === 'function' && isN(tokens[k + 1])) bindings.set(tokens[k + 1]!.value, t.line);
      else if (t.value === 'function' && isP(tokens[k + 1], '*') && isN(tokens[k + 2])) bindings.set(tokens[k + 2]!.value, t.line);
      else if (t.value === 'class' && isN(tokens[k + 1])) {
        bindings.set(tokens[k + 1]!.value, t.line);
        pendingClass = tokens[k + 1]!.value;
      }
    } else if (classBody !== undefined && depth === classBody.depth && t.value === 'static') {
      // static [modifiers] name (= | : | ; | ? | !): a field; `static name(`, `static get x(`, `static {`: not.
      let j = k + 1;
      let readonly = false;
      while (isN(tokens[j]) && ['readonly', 'private', 'protected', 'public', 'override', 'declare', 'accessor'].includes(tokens[j]!.value) && !isP(tokens[j + 1], '(')) {
        if (tokens[j]!.value === 'readonly') readonly = true;
        j++;
      }
      const name = tokens[j];
      const after = tokens[j + 1];
      const field = (isN(name) || name?.kind === 'string') && (isP(after, '=') || isP(after, ':') || isP(after, ';') || isP(after, '?') || isP(after, '!'));
      if (field && !readonly) findings.push({ line: t.line, name: `${classBody.name}.${name!.value}`, what: 'a static field that is not readonly' });
    }
  }
  return { bindings, findings };
}

/** Index just past the bracket that closes the one at `k`. */
function skipGroup(tokens: readonly Token[], k: number): number {
  const open = tokens[k]!.value;
  const close = open === '(' ? ')' : open === '[' ? ']' : '}';
  let d = 0;
  for (let j = k; j < tokens.length; j++) {
    if (isP(tokens[j], open)) d++;
    else if (isP(tokens[j], close) && --d === 0) return j + 1;
  }
  return tokens.length;
}

export interface Mutation {
  readonly line: number;
  /** The name as this module spells it. */
  readonly local: string;
  readonly how: string;
  /** How many property or element links lead from the name to what is changed (Object.assign(X): 1), and the first property's name. */
  readonly links: number;
  readonly first?: string;
}

/**
 * Where the objects `names` hold are changed in `tokens`. A `.`-prefixed occurrence is another object's
 * property, not the name.
 */
export function mutations(tokens: readonly Token[], names: ReadonlySet<string>): Mutation[] {
  const out: Mutation[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind !== 'name' || !names.has(t.value) || isP(tokens[k - 1], '.')) continue;
    const before = tokens[k - 1];
    // A type annotation (`x: X['a'] = ...`): formatted code puts a case label's `:` on the line before its statement.
    if (isP(before, ':') && before!.line === t.line) continue;
    // The chain after the name: .a, ?.a, [i], !, and calls that hand back what it holds (.get(k)).
    let j = k + 1;
    let links = 0;
    let last = '';
    let first: string | undefined;
    for (;;) {
      if (isP(tokens[j], '!') && (isP(tokens[j + 1], '.') || isP(tokens[j + 1], '['))) j++;
      if (isP(tokens[j], '?') && isP(tokens[j + 1], '.')) j++;
      if (isP(tokens[j], '.') && isN(tokens[j + 1])) {
        last = tokens[j + 1]!.value;
        if (links === 0) first = last;
        j += 2;
        links++;
        if (HOLDING.has(last) && isP(tokens[j], '(')) {
          j = skipGroup(tokens, j);
          last = '';
        }
      } else if (isP(tokens[j], '[') && !isP(tokens[j + 1], ']')) {
        j = skipGroup(tokens, j);
        last = '';
        links++;
      } else break;
    }
    const a = tokens[j];
    // Object.assign(X, ...), Object.assign(X.a, ...) and the like: a property of what the chain reaches changes.
    if (isP(before, '(') && isN(tokens[k - 2]) && OBJECT_MUTATORS.has(tokens[k - 2]!.value) && isP(tokens[k - 3], '.') && isN(tokens[k - 4], 'Object') && (isP(a, ',') || isP(a, ')'))) {
      const reached = tokens
        .slice(k, j)
        .map((x) => x.value)
        .join('');
      out.push({ line: t.line, local: t.value, how: `Object.${tokens[k - 2]!.value}(${reached}, ...)`, links: links + 1, ...(first === undefined ? {} : { first }) });
      continue;
    }
    if (links === 0) continue;
    const b = tokens[j + 1];
    const c = tokens[j + 2];
    const chain = `${t.value}${links > 1 || last === '' ? '…' : ''}${last === '' ? '' : `.${last}`}`;
    let how: string | undefined;
    if (MUTATORS.has(last) && isP(a, '(')) how = `${chain}(...)`;
    else if (isP(a, '=') && !isP(b, '=') && !isP(b, '>')) how = `${chain} = ...`;
    else if (a?.kind === 'punct' && COMPOUND.has(a.value) && (isP(b, '=') || (isP(b, a.value) && isP(c, '=') && !isP(tokens[j + 3], '=')))) how = `${chain} ${a.value}= ...`;
    else if ((isP(a, '<') || isP(a, '>')) && isP(b, a.value) && (isP(c, '=') || (isP(c, '>') && isP(tokens[j + 3], '=')))) how = `${chain} shift-assigned`;
    else if ((isP(a, '+') && isP(b, '+')) || (isP(a, '-') && isP(b, '-'))) how = `${chain}${a.value}${a.value}`;
    else if (isN(before, 'delete')) how = `delete ${chain}`;
    else if ((isP(before, '+') && isP(tokens[k - 2], '+')) || (isP(before, '-') && isP(tokens[k - 2], '-'))) how = `${before.value}${before.value}${chain}`;
    if (how !== undefined) out.push({ line: t.line, local: t.value, how, links, ...(first === undefined ? {} : { first }) });
  }
  return out;
}

/** The names a module imports from others, as `specifier -> (local name -> imported name, '*' for a namespace)`. */
export function namedImports(tokens: readonly Token[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (let k = 0; k < tokens.length; k++) {
    if (!isN(tokens[k], 'import') || isP(tokens[k - 1], '.') || isP(tokens[k + 1], '(')) continue;
    let j = k + 1;
    if (isN(tokens[j], 'type') && !isN(tokens[j + 1], 'from') && !isP(tokens[j + 1], ',')) continue; // import type { ... }: no value
    const locals = new Map<string, string>();
    if (isN(tokens[j]) && !isN(tokens[j], 'from')) {
      locals.set(tokens[j]!.value, 'default');
      j++;
      if (isP(tokens[j], ',')) j++;
    }
    if (isP(tokens[j], '*') && isN(tokens[j + 1], 'as') && isN(tokens[j + 2])) {
      locals.set(tokens[j + 2]!.value, '*');
      j += 3;
    } else if (isP(tokens[j], '{')) {
      for (j++; j < tokens.length && !isP(tokens[j], '}'); j++) {
        if (!isN(tokens[j])) continue;
        if (tokens[j]!.value === 'type' && isN(tokens[j + 1]) && !isP(tokens[j + 1], ',')) {
          // `type X` or `type X as Y`: a type, never a value.
          j += isN(tokens[j + 2], 'as') ? 3 : 1;
          continue;
        }
        if (isN(tokens[j + 1], 'as') && isN(tokens[j + 2])) {
          locals.set(tokens[j + 2]!.value, tokens[j]!.value);
          j += 2;
        } else locals.set(tokens[j]!.value, tokens[j]!.value);
      }
      j++;
    }
    if (isN(tokens[j], 'from') && tokens[j + 1]?.kind === 'string' && locals.size > 0) {
      const spec = tokens[j + 1]!.value;
      const m = out.get(spec) ?? new Map<string, string>();
      for (const [l, n] of locals) m.set(l, n);
      out.set(spec, m);
    }
  }
  return out;
}

function tsFiles(root: string, dir: string, out: string[]): void {
  filesUnder(
    root,
    dir,
    (name) => name.endsWith('.ts') && !name.endsWith('.d.ts'),
    out,
    (name) => name === 'build',
  );
}

/** A module of `dirs` that must be free of state: not a test, nor a fixture (an implementation the tests drive). */
export const stateFree = (file: string, dirs: readonly string[] = STATE_FREE) => dirs.some((d) => file.startsWith(`${d}/`)) && !file.endsWith('.test.ts') && !file.split('/').includes('fixtures');

export const formatFinding = (f: StateFinding) => `${f.file}: ${f.name} (line ${f.line}): ${f.what}`;
const keyOf = (f: StateFinding) => `${f.file}: ${f.name}`;

export interface ModuleStateResult {
  /** Findings no allowance names. */
  readonly findings: readonly StateFinding[];
  /** Findings an allowance names. */
  readonly allowed: readonly StateFinding[];
  /** Allowances that name nothing found. */
  readonly unusedAllowances: readonly string[];
  /** How many state-free modules and how many importers were read. */
  readonly modules: number;
  readonly importers: number;
}

/** The modules of `dirs` (default STATE_FREE) read for module-level mutable state, with the importers of IMPORTERS. */
export function checkModuleState(root: string, allowances: Allowances, dirs: readonly string[] = STATE_FREE): ModuleStateResult {
  const files: string[] = [];
  for (const d of IMPORTERS) tsFiles(root, d, files);
  const tokens = new Map(files.map((f) => [f, tokenize(readFileSync(join(root, f), 'utf8'))]));
  const all: StateFinding[] = [];
  const tops = new Map<string, Map<string, number>>();
  for (const f of files.filter((x) => stateFree(x, dirs))) {
    const { bindings, findings } = topLevel(tokens.get(f)!);
    tops.set(f, bindings);
    for (const x of findings) all.push({ file: f, ...x });
  }
  const seen = new Set(all.map(keyOf));
  const report = (file: string, name: string, line: number, what: string) => {
    const f = { file, name, line, what };
    if (seen.has(keyOf(f))) return;
    seen.add(keyOf(f));
    all.push(f);
  };
  for (const f of files) {
    const t = tokens.get(f)!;
    // Its own top level (when state-free), and what it imports from a state-free module.
    const names = new Map<string, { file: string; name: string }>();
    for (const n of tops.get(f)?.keys() ?? []) names.set(n, { file: f, name: n });
    for (const [spec, locals] of namedImports(t)) {
      if (!spec.startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(f), spec));
      const theirs = tops.get(target);
      if (theirs === undefined) continue;
      for (const [local, name] of locals) {
        if (name === '*') names.set(local, { file: target, name: '*' });
        else if (theirs.has(name)) names.set(local, { file: target, name });
      }
    }
    if (names.size === 0) continue;
    for (const m of mutations(t, new Set(names.keys()))) {
      const { file, name } = names.get(m.local)!;
      // A namespace import: X.a… is the module's `a`; a change needs a link past it.
      const top = name !== '*' ? name : m.links >= 2 ? m.first : undefined;
      if (top === undefined || !tops.get(file)!.has(top)) continue;
      report(file, top, tops.get(file)!.get(top)!, `changed after load: ${m.how} (${f}:${m.line})`);
    }
  }
  const used = new Set<string>();
  const findings: StateFinding[] = [];
  const allowed: StateFinding[] = [];
  for (const f of all.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)) {
    if (allowances[keyOf(f)] === undefined) findings.push(f);
    else {
      used.add(keyOf(f));
      allowed.push(f);
    }
  }
  return { findings, allowed, unusedAllowances: Object.keys(allowances).filter((k) => !used.has(k)), modules: tops.size, importers: files.length };
}
