// Checks a recorded trace (schema/trace.json) against the spec: each sequence is run
// again by the same engine as a live run, with the trace answering for the
// implementation (ReplayChannel). The first violation is reported at the line of the call
// whose answer broke it.
import type { ProfileName } from '../adapters/types.ts';
import type { TraceStep } from '../engine/commands.ts';
import { replayIovaBitmapScenario, type IovaBitmapScenario } from '../engine/iova-bitmap-profile.ts';
import { Undecided } from '../engine/limits.ts';
import { replaySmmuSequence, type SmmuSequenceInput } from '../engine/run-profile.ts';
import { replayVfioType1Scenario } from '../engine/vfio-type1-profile.ts';
import { Violation } from '../../model/violation.ts';
import { execAdapters } from './exec-adapters.ts';
import { ReplayChannel, type TraceLine } from './replay.ts';
import { traceProblem } from './schemas.ts';
import { TraceInputError, decodeInput } from './trace-input.ts';

export interface TraceSection {
  readonly profile: ProfileName;
  readonly adapter: string;
  readonly headerLine: number;
  readonly sequences: { readonly line: number; readonly number: number; readonly input: unknown; readonly lines: TraceLine[]; readonly endLine: number }[];
}

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

/** A trace file that cannot be read: the line and what is wrong with it. */
export class TraceFormatError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/** Parses and validates every line; groups them into sections and sequences. Throws TraceFormatError. */
export function parseTrace(text: string): TraceSection[] {
  const raw = text.split('\n');
  if (raw.at(-1) === '') raw.pop();
  else if (raw.length > 0) throw new TraceFormatError(raw.length, 'the last line does not end with a newline: the trace is truncated');
  if (raw.length === 0) throw new TraceFormatError(1, 'the trace is empty: it must start with a header line');
  const sections: TraceSection[] = [];
  let section: TraceSection | undefined;
  for (const [i, text] of raw.entries()) {
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new TraceFormatError(line, `not JSON (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TraceFormatError(line, 'not a JSON object');
    const v = value as Record<string, unknown>;
    if ('trace' in v || section === undefined) {
      const problem = traceProblem('header', v, 'the header');
      if (problem !== undefined) throw new TraceFormatError(line, section === undefined ? `${problem} (a trace starts with a header line)` : problem);
      section = { profile: v.profile as ProfileName, adapter: v.adapter as string, headerLine: line, sequences: [] };
      sections.push(section);
      continue;
    }
    const kind = ['sequence', 'call', 'callback'].find((k) => k in v);
    if (kind === undefined) throw new TraceFormatError(line, 'a line after the header must be a sequence, call or callback line (see conformance/protocol/schema/trace.json)');
    const problem = traceProblem(kind, v, `the ${kind} line`);
    if (problem !== undefined) throw new TraceFormatError(line, problem);
    if ('sequence' in v) {
      let input: unknown;
      try {
        input = decodeInput(v.input);
      } catch (e) {
        if (e instanceof TraceInputError) throw new TraceFormatError(line, e.message);
        throw e;
      }
      const last = section.sequences.at(-1);
      if (last !== undefined) (last as { endLine: number }).endLine = line;
      section.sequences.push({ line, number: v.sequence as number, input, lines: [], endLine: raw.length + 1 });
      continue;
    }
    const seq = section.sequences.at(-1);
    if (seq === undefined) throw new TraceFormatError(line, 'a call or callback before the first sequence line of its section');
    if ('callback' in v && seq.lines.length === 0) throw new TraceFormatError(line, 'a callback before the first call of its sequence');
    seq.lines.push({ line, value: v });
  }
  // A section's last sequence ends where the next section starts.
  for (const [i, s] of sections.entries()) {
    const next = sections[i + 1];
    const last = s.sequences.at(-1);
    if (next !== undefined && last !== undefined) (last as { endLine: number }).endLine = next.headerLine;
  }
  return sections;
}

async function replayOne(profile: ProfileName, channel: ReplayChannel, input: unknown, timeoutMs: number, steps: TraceStep[]): Promise<void> {
  const adapter = execAdapters(channel).get(profile)!;
  switch (adapter.profile) {
    case 'smmu-hw':
    case 'smmu-driver':
      await replaySmmuSequence(adapter, input as SmmuSequenceInput, timeoutMs, steps);
      return;
    case 'iova-bitmap':
      await replayIovaBitmapScenario(adapter, input as IovaBitmapScenario, timeoutMs, steps);
      return;
    case 'vfio-type1':
      await replayVfioType1Scenario(adapter, input, timeoutMs, steps);
      return;
  }
}

/** Checks every sequence of every section; stops at the first that does not conform or cannot be decided. */
export async function checkTrace(sections: readonly TraceSection[], timeoutMs: number): Promise<TraceVerdict> {
  const summary: { profile: string; adapter: string; sequences: number; calls: number }[] = [];
  for (const s of sections) {
    let calls = 0;
    for (const seq of s.sequences) {
      const channel = new ReplayChannel({ name: s.adapter, profiles: [s.profile] }, s.profile, seq.lines, seq.line, seq.endLine);
      const steps: TraceStep[] = [];
      try {
        await replayOne(s.profile, channel, seq.input, timeoutMs, steps);
        channel.finish();
      } catch (e) {
        if (e instanceof Violation) {
          return { verdict: 'does-not-conform', line: channel.lastCallLine, profile: s.profile, sequence: seq.number, violation: { kind: e.kind, req: e.req, expected: e.expected, actual: e.actual }, steps };
        }
        const message = e instanceof Undecided ? e.message : `the sequence could not be run: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
        const line = Number(/^line (\d+)/.exec(message)?.[1] ?? seq.line);
        return { verdict: 'undecided', line, message: `sequence ${seq.number} of profile ${s.profile} (line ${seq.line}): ${message}`, steps };
      }
      calls += seq.lines.filter((l) => 'call' in l.value).length;
    }
    summary.push({ profile: s.profile, adapter: s.adapter, sequences: s.sequences.length, calls });
  }
  return { verdict: 'conforms', sections: summary };
}
