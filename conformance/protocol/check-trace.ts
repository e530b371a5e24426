// Checks a recorded trace (schema/trace.json) against the spec: each sequence is run
// again by the same engine as a live run, with the trace answering for the implementation
// (ReplayChannel), as soon as its lines have been read, so a trace of any length is
// checked in the memory of one sequence. The first violation is reported at the line of
// the call whose answer broke it. A trace must be whole: every section ends with its end
// line and numbers its sequences 1, 2, ... in order, so a cut or edited trace cannot pass.
import { createReadStream } from 'node:fs';
import type { ProfileName } from '../adapters/types.ts';
import type { TraceStep } from '../engine/commands.ts';
import { Undecided, engineError } from '../engine/limits.ts';
import { Violation } from '../../model/violation.ts';
import { profiles, type ProfileModule } from '../profiles/index.ts';
import type { TraceDeclared } from './recorder.ts';
import { ReplayChannel, type TraceLine } from './replay.ts';
import { traceProblem } from './schemas.ts';
import { TraceInputError, decodeInput, isCommand } from './trace-input.ts';
import { isContractName } from '../../spec/contracts/index.ts';
import { isIovaBitmapContractName } from '../../spec/iova-bitmap/contracts.ts';

export type TraceVerdict =
  | { readonly verdict: 'conforms'; readonly sections: readonly { profile: string; adapter: string; sequences: number; calls: number }[] }
  | {
      readonly verdict: 'does-not-conform';
      readonly line: number;
      readonly profile: string;
      readonly sequence: number;
      readonly violation: { kind: string; req: readonly string[]; expected: string; actual: string };
      readonly steps: readonly TraceStep[];
    }
  | { readonly verdict: 'undecided'; readonly line: number; readonly message: string; readonly steps: readonly TraceStep[] };

/** The lines of a file, numbered from 1; throws TraceFormat for a last line without its newline. */
async function* linesOf(file: string): AsyncGenerator<{ line: number; text: string }> {
  let rest = '';
  let line = 0;
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    rest += chunk as string;
    let from = 0;
    let nl: number;
    while ((nl = rest.indexOf('\n', from)) >= 0) {
      yield { line: ++line, text: rest.slice(from, nl) };
      from = nl + 1;
    }
    rest = rest.slice(from);
    if (rest.length > 64 << 20) throw new TraceFormat(line + 1, 'a line longer than 64 MiB');
  }
  if (rest.length > 0) throw new TraceFormat(line + 1, 'the last line does not end with a newline: the trace is truncated');
}

class TraceFormat extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

interface Section {
  readonly profile: ProfileName;
  readonly adapter: string;
  /** The contract the recorded run checked (the header's), judged by again. */
  readonly contract?: string;
  /** What the recorded kvm-dirty-ring adapter declared (the header's): the checks follow it. */
  readonly declared: TraceDeclared;
  readonly headerLine: number;
  sequences: number;
  calls: number;
}

interface Sequence {
  readonly line: number;
  readonly number: number;
  readonly input: unknown;
  readonly lines: TraceLine[];
}

/** Checks the trace in `file` sequence by sequence; stops at the first that does not conform or cannot be decided. */
export async function checkTraceFile(file: string, timeoutMs: number): Promise<TraceVerdict> {
  const done: { profile: string; adapter: string; sequences: number; calls: number }[] = [];
  let section: Section | undefined;
  let seq: Sequence | undefined;
  let lastLine = 0;

  const run = async (s: Section, q: Sequence, endLine: number): Promise<TraceVerdict | undefined> => {
    // A driver contract is declared in the hello too: it decides which operations the adapter offers, as it did when recorded.
    const declared = s.contract !== undefined && (profiles[s.profile] as ProfileModule).contracts === 'driver' ? { contract: s.contract } : {};
    const channel = new ReplayChannel({ name: s.adapter, profiles: [s.profile], ...declared, ...s.declared }, s.profile, q.lines, q.line, endLine);
    const steps: TraceStep[] = [];
    try {
      await replayOne(s.profile, channel, q.input, timeoutMs, steps, s.contract);
      channel.finish();
    } catch (e) {
      // As a live run judges it: an exception of the kit's own is an engine error, undecided.
      if (!(e instanceof Violation)) {
        const u = e instanceof Undecided ? e : engineError(e);
        const line = Number(/^line (\d+)/.exec(u.message)?.[1] ?? q.line);
        return { verdict: 'undecided', line, message: `sequence ${q.number} of profile ${s.profile} (line ${q.line}): ${u.message}`, steps };
      }
      const v = e;
      return { verdict: 'does-not-conform', line: channel.lastCallLine, profile: s.profile, sequence: q.number, violation: { kind: v.kind, req: v.req, expected: v.expected, actual: v.actual }, steps };
    }
    s.calls += q.lines.filter((l) => 'call' in l.value).length;
    return undefined;
  };

  try {
    for await (const { line, text } of linesOf(file)) {
      lastLine = line;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new TraceFormat(line, `not JSON (${(e as Error).message})`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TraceFormat(line, 'not a JSON object');
      const v = value as Record<string, unknown>;
      if (section === undefined) {
        const problem = traceProblem('header', v, 'the header');
        if (problem !== undefined) throw new TraceFormat(line, `${problem} (a trace, and each of its sections, starts with a header line)`);
        const profile = v.profile as ProfileName;
        const contract = v.contract as string | undefined;
        if (contract !== undefined) {
          const kind = (profiles[profile] as ProfileModule).contracts;
          const known = kind === 'driver' ? isContractName(contract) : kind === 'iova-bitmap' ? isIovaBitmapContractName(contract) : false;
          if (!known) throw new TraceFormat(line, `the header's contract ${JSON.stringify(contract)} is not a contract of profile ${profile}${kind === undefined ? ' (it has none)' : ''}`);
        }
        const declared: TraceDeclared = {
          ...(v.kvmCpuDirtyLogSize === undefined ? {} : { kvmCpuDirtyLogSize: v.kvmCpuDirtyLogSize as number }),
          ...(v.kvmChecksSignals === undefined ? {} : { kvmChecksSignals: v.kvmChecksSignals as boolean }),
        };
        section = { profile, adapter: v.adapter as string, ...(contract === undefined ? {} : { contract }), declared, headerLine: line, sequences: 0, calls: 0 };
        continue;
      }
      const kind = ['end', 'sequence', 'call', 'callback', 'trace'].find((k) => k in v);
      if (kind === 'trace') throw new TraceFormat(line, `a header line before the end line of the section started at line ${section.headerLine}`);
      if (kind === undefined) throw new TraceFormat(line, 'a line after the header must be a sequence, call, callback or end line (see conformance/protocol/schema/trace.json)');
      const problem = traceProblem(kind, v, `the ${kind} line`);
      if (problem !== undefined) throw new TraceFormat(line, problem);
      if (kind === 'sequence' || kind === 'end') {
        if (seq !== undefined) {
          const verdict = await run(section, seq, line);
          if (verdict !== undefined) return verdict;
          seq = undefined;
        }
      }
      if (kind === 'end') {
        if (section.sequences === 0) throw new TraceFormat(line, `the section started at line ${section.headerLine} has no sequence: it checks nothing`);
        if (v.sequences !== section.sequences) throw new TraceFormat(line, `the end line counts ${String(v.sequences)} sequences, the section has ${section.sequences}: sequences are missing`);
        done.push({ profile: section.profile, adapter: section.adapter, sequences: section.sequences, calls: section.calls });
        section = undefined;
        continue;
      }
      if (kind === 'sequence') {
        if (v.sequence !== section.sequences + 1) throw new TraceFormat(line, `sequence ${String(v.sequence)}, expected ${section.sequences + 1}: sequences are numbered 1, 2, ... in order, none left out`);
        let input: unknown;
        try {
          input = decodeInput(v.input);
        } catch (e) {
          if (e instanceof TraceInputError) throw new TraceFormat(line, e.message);
          throw e;
        }
        const bad = profiles[section.profile].inputProblem(input, isCommand);
        if (bad !== undefined) throw new TraceFormat(line, `${bad} (a ${section.profile} sequence's input, as the kit generates it)`);
        section.sequences++;
        seq = { line, number: section.sequences, input, lines: [] };
        continue;
      }
      if (seq === undefined) throw new TraceFormat(line, 'a call or callback before the first sequence line of its section');
      if (kind === 'callback' && seq.lines.length === 0) throw new TraceFormat(line, 'a callback before the first call of its sequence');
      seq.lines.push({ line, value: v });
    }
  } catch (e) {
    if (e instanceof TraceFormat) return { verdict: 'undecided', line: e.line, message: e.message, steps: [] };
    throw e;
  }
  if (section !== undefined) {
    // The last sequence first: where it runs out of lines says more than the missing end line.
    if (seq !== undefined) {
      const verdict = await run(section, seq, lastLine + 1);
      if (verdict !== undefined) return verdict;
    }
    return { verdict: 'undecided', line: lastLine + 1, message: `line ${lastLine + 1}: the trace ends before the end line of the section started at line ${section.headerLine}: it is truncated`, steps: [] };
  }
  if (done.length === 0) return { verdict: 'undecided', line: 1, message: 'line 1: the trace is empty: it must start with a header line', steps: [] };
  return { verdict: 'conforms', sections: done };
}

async function replayOne(profile: ProfileName, channel: ReplayChannel, input: unknown, timeoutMs: number, steps: TraceStep[], contract: string | undefined): Promise<void> {
  const module = profiles[profile] as ProfileModule;
  await module.replay(module.overChannel(channel, channel.hello.name) as never, input, timeoutMs, steps, contract);
}
