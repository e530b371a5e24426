// A conformance profile as one module: what it checks, how the kit runs it, how it
// crosses the protocol, how a recorded trace of it is replayed, and its reference
// implementation. The engine, the command line, the reports, --exec, check-trace and the
// mutant zoo find profiles through the registry (./index.ts) and never test a profile's
// name: adding a profile is adding its modules and its registry entry.
import type { AnyStateMachine } from 'xstate';
import type { Adapter, AdapterOf, ContractName, IovaBitmapContractName } from '../adapters/types.ts';
import type { TraceStep } from '../engine/commands.ts';
import type { ProfileResult, RunOptions } from '../engine/run-profile.ts';
import type { Channel } from '../protocol/channel.ts';

export interface ProfileModule<P extends Adapter['profile'] = Adapter['profile']> {
  readonly name: P;
  /** What the implementation under test is, and what the kit supplies around it (`dirtyspec list`). */
  readonly underTest: string;
  readonly kitSupplies: string;
  /**
   * The smmu engine's profiles: the part the kit plays around the implementation, which
   * decides the races it can run. 'driver' (smmu-hw: the implementation is the SMMU, and
   * the kit's software changes land between the hardware's memory accesses) or 'smmu'
   * (smmu-driver: the implementation is the driver, and the kit's DMA writes land between
   * the driver's memory accesses). Absent for profiles of other engines.
   */
  readonly kitPlays?: 'driver' | 'smmu';
  /** The spec machines a run steps, by their id: coverage is reported for each. */
  readonly machines: readonly AnyStateMachine[];
  /** A whole campaign: random sequences (and directed tests where the profile has them), shrunk and replayed on failure. */
  run(adapter: AdapterOf<P>, options: RunOptions): Promise<ProfileResult>;
  /**
   * check-trace: runs one recorded sequence again, the trace answering for the
   * implementation, under `contract` (the trace header's: the one the recorded run checked),
   * else the one the adapter declares, else the profile's default. Throws Violation or Undecided.
   */
  replay(adapter: AdapterOf<P>, input: unknown, timeoutMs: number, trace: TraceStep[], contract?: string): Promise<number>;
  /** The name of the contract a run of `adapter` checks when `asked` is --contract (what a --record trace's header records); absent for a profile without contracts. */
  contractOf?(adapter: AdapterOf<P>, asked: string | undefined): string;
  /** check-trace: what is wrong with a recorded sequence input (as the kit generates them), or undefined. */
  inputProblem(input: unknown, isCommand: (c: unknown) => boolean): string | undefined;
  /** The profile's adapter over the JSON-lines protocol (--exec, check-trace). */
  overChannel(peer: Channel, name: string): AdapterOf<P>;
  /**
   * The contracts this profile is checked under, if any: 'driver' (spec/contracts/: strict,
   * linux-upstream, rfc-2021; `--contract`) or 'iova-bitmap' (spec/iova-bitmap/contracts.ts:
   * linux, hardened). The command line asks this, never the profile's name.
   */
  readonly contracts?: 'driver' | 'iova-bitmap';
  /**
   * Other interfaces the built-in reference plays in the default run (`npm start`), each a
   * campaign of its own beside the contracts': the behaviour the spec gives an
   * implementation that offers what the strict reference does not (vfio-type1: upstream
   * Linux's uAPI, whose VFIO_UPDATE_VADDR makes VFIO-MAP-10 reachable).
   */
  referenceVariants?(): readonly AdapterOf<P>[];
  /** The built-in reference implementation's adapter, playing `contract` of the profile's kind where given (the same implementation with options). */
  reference(contract?: ContractName | IovaBitmapContractName): AdapterOf<P>;
}
