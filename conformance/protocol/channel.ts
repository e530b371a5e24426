// What the kit's adapters talk to: a process over a pipe (ExecPeer), an in-process server
// (LoopbackChannel, for --record of in-process adapters), or a recorded trace
// (ReplayChannel, for check-trace). Requests and callbacks in the protocol's wire form.
import type { Adapter } from '../adapters/types.ts';
import { helloContract, protocolServer } from './serve.ts';

export type CallbackHandler = (msg: { op: string } & Record<string, unknown>) => unknown;

export interface PeerHello {
  readonly name: string;
  readonly profiles: readonly string[];
  /** The driver contract the smmu profiles follow (PROTOCOL.md, "Contracts"); absent: strict. */
  readonly contract?: string;
  /** Its capabilities, as spec/contracts/types.ts has them; absent: the contract's. */
  readonly capabilities?: Record<string, unknown>;
  /** kvm-dirty-ring on x86: the CPU dirty log size (512 with PML); absent: 0. */
  readonly kvmCpuDirtyLogSize?: number;
  /** kvm-dirty-ring: KVM_RESET_DIRTY_RINGS checks signal_pending(current) through the `task.signalPending` callback. */
  readonly kvmChecksSignals?: boolean;
}

export interface Channel {
  readonly hello: PeerHello;
  /**
   * Sends request `op` (`profile.method`); resolves with its result, answering callbacks
   * through `onCallback`. `weight`: how many time limits it may take (callWeight in
   * engine/limits.ts; a process peer applies it, an in-process one is timed by the engine).
   */
  request(op: string, args: Record<string, unknown>, onCallback?: CallbackHandler, weight?: number): Promise<Record<string, unknown>>;
}

/** In-process adapters behind the protocol's encoding: every value crosses as it would over a pipe. */
export class LoopbackChannel implements Channel {
  readonly hello: PeerHello;
  private current: CallbackHandler | undefined;
  private readonly handle: ReturnType<typeof protocolServer>;

  constructor(adapters: readonly Adapter[], name: string) {
    this.hello = { name, profiles: adapters.map((a) => a.profile), ...helloContract(adapters) };
    this.handle = protocolServer(adapters, name, {
      call: (op, args = {}) => {
        if (this.current === undefined) throw new Error(`callback ${op} outside a request`);
        return this.current({ op, ...args });
      },
    });
  }

  async request(op: string, args: Record<string, unknown>, onCallback?: CallbackHandler): Promise<Record<string, unknown>> {
    this.current = onCallback;
    try {
      return (await this.handle({ op, ...args })) as Record<string, unknown>;
    } finally {
      this.current = undefined;
    }
  }
}
