// --record FILE: every operation of a run, with its arguments, its result and the
// callbacks it made, as JSON lines (schema/trace.json). The recording sits on a Channel,
// so a process over a pipe and an in-process adapter (through LoopbackChannel) are
// recorded alike, in the protocol's wire form.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { ProfileName } from '../adapters/types.ts';
import type { CallbackHandler, Channel, PeerHello } from './channel.ts';
import { encodeInput } from './trace-input.ts';

const FLUSH_AT = 1 << 20;

/** Appends trace lines to a file, buffered; `close` flushes. */
/** What a kvm-dirty-ring adapter declares that its checks follow, as the trace header carries it (schema/trace.json). */
export interface TraceDeclared {
  readonly kvmCpuDirtyLogSize?: number;
  readonly kvmChecksSignals?: boolean;
}

/** The header fields of `adapter`'s declarations (none for the other profiles). */
export function traceDeclared(adapter: { readonly profile: string; readonly cpuDirtyLogSize?: number; readonly checksSignals?: boolean }): TraceDeclared {
  if (adapter.profile !== 'kvm-dirty-ring') return {};
  return {
    ...(adapter.cpuDirtyLogSize !== undefined && adapter.cpuDirtyLogSize !== 0 ? { kvmCpuDirtyLogSize: adapter.cpuDirtyLogSize } : {}),
    ...(adapter.checksSignals === true ? { kvmChecksSignals: true } : {}),
  };
}

export class TraceWriter {
  private readonly fd: number;
  private buffered: string[] = [];
  private size = 0;
  private sequences = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
  }

  line(value: unknown): void {
    const text = `${JSON.stringify(value)}\n`;
    this.buffered.push(text);
    this.size += text.length;
    if (this.size >= FLUSH_AT) this.flush();
  }

  /**
   * Starts a profile's section; `contract` is the one the run checks (the profile's module
   * says which), so check-trace judges by it too; `declared`, what a kvm-dirty-ring adapter
   * declares besides (its CPU dirty log, its signal checks), which the run's checks follow.
   */
  header(profile: ProfileName, adapter: string, seed: number, contract?: string, declared: TraceDeclared = {}): void {
    this.sequences = 0;
    this.line({ trace: 'dirtyspec', version: 1, profile, adapter, seed, ...(contract === undefined ? {} : { contract }), ...declared });
  }

  /** Ends a profile's section: check-trace needs it to know the section is whole. */
  footer(): void {
    this.line({ end: 'dirtyspec', sequences: this.sequences });
  }

  sequence(input: unknown): void {
    this.line({ sequence: ++this.sequences, input: encodeInput(input) });
  }

  flush(): void {
    if (this.buffered.length === 0) return;
    writeSync(this.fd, this.buffered.join(''));
    this.buffered = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Passes requests to `inner`, writing each completed call and its callbacks to `writer`. */
export class RecordingChannel implements Channel {
  constructor(
    private readonly inner: Channel,
    private readonly writer: TraceWriter,
  ) {}

  get hello(): PeerHello {
    return this.inner.hello;
  }

  async request(op: string, args: Record<string, unknown>, onCallback?: CallbackHandler, weight?: number): Promise<Record<string, unknown>> {
    const callbacks: unknown[] = [];
    const recording: CallbackHandler | undefined =
      onCallback === undefined
        ? undefined
        : (c) => {
            const answer = onCallback(c);
            const { op: callback, ...rest } = c;
            callbacks.push({ callback, args: rest, answer: answer ?? null });
            return answer;
          };
    const result = await this.inner.request(op, args, recording, weight);
    this.writer.line({ call: op.slice(op.indexOf('.') + 1), args, result });
    for (const c of callbacks) this.writer.line(c);
    return result;
  }
}
