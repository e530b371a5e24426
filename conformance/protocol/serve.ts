// The implementation's end of the protocol, for adapters written in TypeScript: serves
// them over standard input and output (PROTOCOL.md). `serve-reference.ts` serves the
// built-in reference this way, which tests the protocol end to end on every profile and
// gives the round-trip benchmark its partner. Everything here is synchronous, as a C
// harness would be: a callback blocks until the kit's answer line has been read.
import { readSync, writeSync } from 'node:fs';
import { contracts } from '../../spec/contracts/index.ts';
import type { Adapter } from '../adapters/types.ts';
import { type ProfileServer, serverOf } from './serve-profiles.ts';
import { PROTOCOL_VERSION } from './peer.ts';
import type { PeerHello } from './channel.ts';

type Msg = Record<string, unknown> & { op?: string };

/** The shell command that serves the reference over the protocol (serve-reference.ts), for --exec. */
export const SERVE_REFERENCE_COMMAND = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(new URL('./serve-reference.ts', import.meta.url).pathname)}`;

class LineIo {
  private buffered = '';
  private readonly chunk = Buffer.alloc(1 << 16);
  constructor(
    private readonly input: number,
    private readonly output: number,
  ) {}

  /** The next line, or undefined at end of input. */
  read(): string | undefined {
    for (;;) {
      const nl = this.buffered.indexOf('\n');
      if (nl >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        return line;
      }
      let got: number;
      try {
        got = readSync(this.input, this.chunk, 0, this.chunk.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        if ((e as NodeJS.ErrnoException).code === 'EOF') return undefined;
        throw e;
      }
      if (got === 0) return undefined;
      this.buffered += this.chunk.toString('utf8', 0, got);
    }
  }

  write(msg: unknown): void {
    const line = `${JSON.stringify(msg)}\n`;
    let off = 0;
    const bytes = Buffer.from(line);
    while (off < bytes.length) off += writeSync(this.output, bytes, off);
  }
}

/** How a server makes a callback and gets the kit's answer (synchronously). */
export interface CallbackPort {
  call(op: string, args?: Record<string, unknown>): unknown;
}

class Callbacks implements CallbackPort {
  private next = 1;
  constructor(private readonly io: LineIo) {}
  call(op: string, args: Record<string, unknown> = {}): unknown {
    const cb = this.next++;
    this.io.write({ cb, op, ...args });
    const line = this.io.read();
    if (line === undefined) throw new Error(`end of input while waiting for the answer to callback ${cb}`);
    const m = JSON.parse(line) as { re?: unknown; result?: unknown };
    if (m.re !== cb) throw new Error(`expected the answer to callback ${cb}, got ${line.slice(0, 200)}`);
    return m.result;
  }
}

/** Serves `adapters` (one per profile) until `bye` or end of input. */
export async function serve(adapters: readonly Adapter[], name: string, input = 0, output = 1): Promise<void> {
  const io = new LineIo(input, output);
  const handle = protocolServer(adapters, name, new Callbacks(io));
  for (;;) {
    const line = io.read();
    if (line === undefined) return;
    const m = JSON.parse(line) as Msg & { id: number; op: string };
    let result: unknown;
    try {
      result = await handle(m);
    } catch (e) {
      io.write({ id: m.id, error: (e as Error).message });
      continue;
    }
    io.write({ id: m.id, result });
    if (m.op === 'bye') return;
  }
}

/**
 * The server's half of every operation: decodes a request's arguments, calls the adapter,
 * encodes its result. Callbacks go through `cb`. Throws for an op it does not know.
 */
export function protocolServer(adapters: readonly Adapter[], name: string, cb: CallbackPort): (m: Msg & { op: string }) => Promise<unknown> {
  const by = new Map(adapters.map((a) => [a.profile as string, a]));
  // Each profile's half (serve-profiles.ts), made at its first request.
  const halves = new Map<string, ProfileServer>();
  return async (m) => {
    const [profile, op] = m.op.includes('.') ? (m.op.split('.') as [string, string]) : ['', m.op];
    if (profile === '') {
      if (op === 'hello') return { protocol: PROTOCOL_VERSION, name, profiles: adapters.map((a) => a.profile), ...helloContract(adapters) };
      if (op === 'bye') return {};
      throw new Error(`unknown op ${m.op}`);
    }
    const a = by.get(profile);
    if (a === undefined) throw new Error(`profile ${profile} is not served`);
    let half = halves.get(profile);
    if (half === undefined) halves.set(profile, (half = serverOf(a, (o, args) => cb.call(o, args))));
    return half(m);
  };
}

/**
 * The contract part of a hello: the driver contract (spec/contracts/) of the adapters that
 * declare one (the smmu profiles share it). An iova-bitmap adapter's contract is of
 * another kind (spec/iova-bitmap/contracts.ts) and is not a hello field.
 */
export function helloContract(adapters: readonly Adapter[]): Pick<PeerHello, 'contract' | 'capabilities' | 'kvmCpuDirtyLogSize' | 'kvmChecksSignals'> {
  const ring = adapters.find((a) => a.profile === 'kvm-dirty-ring') as { cpuDirtyLogSize?: number; checksSignals?: boolean } | undefined;
  return {
    ...helloDriverContract(adapters),
    ...(ring?.cpuDirtyLogSize !== undefined && ring.cpuDirtyLogSize !== 0 ? { kvmCpuDirtyLogSize: ring.cpuDirtyLogSize } : {}),
    ...(ring?.checksSignals === true ? { kvmChecksSignals: true } : {}),
  };
}

function helloDriverContract(adapters: readonly Adapter[]): Pick<PeerHello, 'contract' | 'capabilities'> {
  for (const a of adapters) {
    const d = a as { contract?: string; capabilities?: object };
    if (d.contract !== undefined && Object.hasOwn(contracts, d.contract)) {
      return { contract: d.contract, ...(d.capabilities === undefined ? {} : { capabilities: d.capabilities as Record<string, unknown> }) };
    }
  }
  return {};
}
