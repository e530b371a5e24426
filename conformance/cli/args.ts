// Flag parsing shared by the commands: node:util parseArgs for the tokens, and our own
// rules and messages on top, so every mistake names the flag and what it needs.
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** A mistake in how the command was called: printed without a stack trace, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Where a command writes. The default is the process's stdout and stderr. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Progress lines are drawn only on a terminal. */
  readonly errIsTTY: boolean;
  readonly errColumns?: number;
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  get errIsTTY() {
    return process.stderr.isTTY === true;
  },
  get errColumns() {
    return process.stderr.columns;
  },
};

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
}

export interface ParsedFlags {
  readonly strings: ReadonlyMap<string, readonly string[]>;
  readonly booleans: ReadonlySet<string>;
}

/**
 * Parses `argv` (after the command name) against `spec`. Rejects unknown flags, positional
 * arguments, a missing value, a value given to a switch, and a flag given twice that may
 * appear once. `--help`/`-h` is always accepted.
 */
export function parseFlags(argv: readonly string[], spec: Readonly<Record<string, FlagSpec>>): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, s] of Object.entries(spec)) options[name] = { type: s.type, ...(s.short === undefined ? {} : { short: s.short }) };
  const known = Object.keys(options).map((n) => `--${n}`);
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const strings = new Map<string, string[]>();
  const booleans = new Set<string>();
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') throw new UsageError(`unexpected argument ${JSON.stringify(t.value)}: this command takes only flags (${known.join(', ')})`);
    const s = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (s === undefined) {
      throw new UsageError(`unknown flag ${t.rawName} (known flags: ${known.join(', ')})`);
    }
    const flag = `--${t.name}`;
    if (s.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${flag} takes no value, got ${JSON.stringify(t.value)}`);
      booleans.add(t.name);
      continue;
    }
    if (t.value === undefined) throw new UsageError(`${flag} needs a value`);
    if (!t.inlineValue && /^--|^-[A-Za-z]/.test(t.value)) {
      throw new UsageError(`${flag} needs a value, but the next argument is the flag ${t.value} (write ${flag}=${t.value} if that is the value)`);
    }
    const list = strings.get(t.name) ?? [];
    if (list.length > 0 && spec[t.name]?.multiple !== true) throw new UsageError(`${flag} may be given only once`);
    list.push(t.value);
    strings.set(t.name, list);
  }
  return { strings, booleans };
}

export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const v = flags.strings.get(name)?.[0];
  if (v !== undefined && v === '') throw new UsageError(`--${name} needs a non-empty value`);
  return v;
}

/**
 * A report file flag (--json, --junit, --html): its path, checked before any work so that
 * a long run does not end in a report it cannot write. The folder must exist: a mistyped
 * path is an error naming it, never a folder created on the way.
 */
export function reportFileFlag(flags: ParsedFlags, name: string): string | undefined {
  const file = stringFlag(flags, name);
  if (file === undefined) return undefined;
  const folder = dirname(resolve(file));
  let isFolder: boolean;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch {
    throw new UsageError(`--${name} ${file}: the folder ${folder} does not exist (create it first; dirtyspec does not create folders)`);
  }
  if (!isFolder) throw new UsageError(`--${name} ${file}: ${folder} is not a folder`);
  return file;
}

/** An integer flag in [min, max], or `fallback` when absent. */
export function intFlag(flags: ParsedFlags, name: string, min: number, max: number, fallback: number): number;
export function intFlag(flags: ParsedFlags, name: string, min: number, max: number): number | undefined;
export function intFlag(flags: ParsedFlags, name: string, min: number, max: number, fallback?: number): number | undefined {
  const raw = flags.strings.get(name)?.[0];
  if (raw === undefined) return fallback;
  const n = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Values of a repeatable flag, each one of `allowed`, duplicates dropped, in the order given. */
export function choiceFlags<T extends string>(flags: ParsedFlags, name: string, allowed: readonly T[]): T[] {
  const out: T[] = [];
  for (const v of flags.strings.get(name) ?? []) {
    if (!allowed.includes(v as T)) throw new UsageError(`--${name} ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
    if (!out.includes(v as T)) out.push(v as T);
  }
  return out;
}

/** A progress line on stderr: only on a terminal, only once the work has taken `delayMs`, rewritten in place. */
export class Progress {
  private readonly started = performance.now();
  private lastDraw = 0;
  private drawn = 0;

  constructor(
    private readonly io: Io,
    private readonly delayMs = 2000,
  ) {}

  update(text: () => string): void {
    if (!this.io.errIsTTY) return;
    const now = performance.now();
    if (now - this.started < this.delayMs || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    // A terminal that reports no width (0 under some ptys) is taken as 80 columns.
    const cols = this.io.errColumns;
    const columns = (cols !== undefined && cols >= 20 ? cols : 80) - 1;
    const line = text().slice(0, columns);
    this.io.err(`\r${line.padEnd(this.drawn)}`);
    this.drawn = Math.max(this.drawn, line.length);
  }

  clear(): void {
    if (this.drawn === 0) return;
    this.io.err(`\r${' '.repeat(this.drawn)}\r`);
    this.drawn = 0;
  }
}

export function elapsed(startedMs: number): string {
  return `${((performance.now() - startedMs) / 1000).toFixed(1)} s`;
}
