// dirtyspec check-trace: a recorded trace stands in for the implementation. The kit runs
// each recorded sequence again; every operation it makes must be the trace's next call
// with the same arguments, every callback the trace lists is performed on the kit's side
// again and must get the answer the trace recorded, and the recorded result is what the
// spec then judges. Any mismatch is a trace that does not describe this run: undecided,
// with the line number.
import { Undecided } from '../engine/limits.ts';
import type { CallbackHandler, Channel, PeerHello } from './channel.ts';
import { protocolProblem } from './schemas.ts';

export interface TraceLine {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly value: Record<string, unknown>;
}

/** Compares wire values: objects by keys in any order, u64 strings by value ("0x1F" = "0x1f"). */
export function sameWire(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' && typeof b === 'string') {
    if (a === b) return true;
    const hex = /^0[xX][0-9a-fA-F]{1,16}$/;
    return hex.test(a) && hex.test(b) && BigInt(a) === BigInt(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameWire(v, b[i]));
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameWire((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

const show = (v: unknown) => {
  const t = JSON.stringify(v);
  return t.length > 300 ? `${t.slice(0, 300)}...` : t;
};

/** The calls and callbacks of one recorded sequence, answered in order. */
export class ReplayChannel implements Channel {
  private at = 0;
  /** The line of the last call answered: where a violation found after it is reported. */
  lastCallLine: number;

  constructor(
    readonly hello: PeerHello,
    private readonly profile: string,
    private readonly lines: readonly TraceLine[],
    /** The line of the sequence header: reported when the run fails before any call. */
    readonly sequenceLine: number,
    /** The line after the last one of this sequence (where the run must end). */
    private readonly endLine: number,
  ) {
    this.lastCallLine = sequenceLine;
  }

  private where(): string {
    const next = this.lines[this.at];
    return next === undefined ? `line ${this.endLine} (${this.endLine > this.lastLineOfFile() ? 'the end of the trace' : 'the next sequence'})` : `line ${next.line}`;
  }

  private lastLineOfFile(): number {
    return this.lines.at(-1)?.line ?? this.sequenceLine;
  }

  async request(op: string, args: Record<string, unknown>, onCallback?: CallbackHandler): Promise<Record<string, unknown>> {
    const call = op.slice(op.indexOf('.') + 1);
    const next = this.lines[this.at];
    if (next === undefined || !('call' in next.value)) {
      throw new Undecided(`${this.where()}: the run makes ${call} ${show(args)} here, but the trace has ${next === undefined ? 'no more calls for this sequence (truncated?)' : `a ${Object.keys(next.value)[0]} line`}`);
    }
    const v = next.value as { call: string; args: Record<string, unknown>; result: Record<string, unknown> };
    if (v.call !== call || !sameWire(v.args, args)) {
      throw new Undecided(`line ${next.line}: the run makes ${call} ${show(args)} here, but the trace has ${v.call} ${show(v.args)}: the trace does not describe this sequence`);
    }
    this.at++;
    while (this.lines[this.at] !== undefined && 'callback' in this.lines[this.at]!.value) {
      const cbLine = this.lines[this.at]!;
      const c = cbLine.value as { callback: string; args: Record<string, unknown>; answer: unknown };
      const msg = { op: c.callback, ...c.args };
      const problem = protocolProblem(`callbacks/${c.callback}`, msg, `line ${cbLine.line}`);
      if (problem !== undefined) throw new Undecided(problem);
      if (onCallback === undefined) throw new Undecided(`line ${cbLine.line}: a callback ${c.callback} during ${call}, which makes none`);
      let answer: unknown;
      try {
        answer = onCallback(msg) ?? null;
      } catch (e) {
        throw new Undecided(`line ${cbLine.line}: ${c.callback} failed in the kit: ${(e as Error).message}`);
      }
      if (!sameWire(answer, c.answer)) throw new Undecided(`line ${cbLine.line}: the kit answers ${c.callback} with ${show(answer)}, the trace recorded ${show(c.answer)}: the trace does not describe this sequence`);
      this.at++;
    }
    const problem = protocolProblem(`results/${this.profile}.${call}`, v.result, `line ${next.line}: the result of ${call}`);
    if (problem !== undefined) throw new Undecided(problem);
    this.lastCallLine = next.line;
    return v.result;
  }

  /** After the run: every line of the sequence must have been used. */
  finish(): void {
    const left = this.lines[this.at];
    if (left !== undefined) throw new Undecided(`line ${left.line}: the trace holds ${'call' in left.value ? `a call ${String(left.value.call)}` : 'a line'} the run did not make: the trace does not describe this sequence`);
  }
}
