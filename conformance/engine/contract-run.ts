// A run of the smmu profiles under a driver contract (spec/contracts/, docs/CONTRACTS.md):
// which contract a run checks, what the implementation's create may refuse, and the
// contract's hazards, each run as its shortest scenario on the implementation and in the
// contract's own simulation (spec/contracts/simulate.ts), reported apart from the verdict.
import { type Capabilities, type Contract, type ContractName, ERRNO, type Hazard, type HazardStep, contractByName, contracts } from '../../spec/contracts/index.ts';
import { ScenarioError, simulate } from '../../spec/contracts/simulate.ts';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import type { IovaBitmapContractName } from '../../spec/iova-bitmap/contracts.ts';
import type { RunContext } from '../../model/run-context.ts';
import { Violation } from '../../model/violation.ts';
import type { SmmuDriverAdapter, SmmuHwAdapter } from '../adapters/types.ts';
import { CreateRefused, type System, type SystemConfig, createSystem } from './system.ts';
import { type CallLimits, Undecided } from './limits.ts';

type SmmuAdapter = SmmuHwAdapter | SmmuDriverAdapter;

/** What a hazard's scenario showed. */
export interface HazardResult {
  readonly id: string;
  readonly title: string;
  readonly nature: Hazard['nature'];
  readonly req: readonly string[];
  readonly source: string;
  /** The scenario, one operation a line, the missing step marked. */
  readonly scenario: readonly string[];
  /** The step (0-based) whose report or unmap misses the pages, and the pages. */
  readonly misses: { readonly atStep: number; readonly pages: readonly number[] };
  /** The contract's own simulation of the scenario misses exactly those pages. */
  readonly bySimulation: boolean;
  /**
   * On the implementation: `demonstrated` (its answer at that step lacked the pages),
   * `not-shown` (it reported them: stricter than its contract), or `not-run` with why.
   */
  readonly onImplementation: 'demonstrated' | 'not-shown' | 'not-run';
  readonly note?: string;
}

/** The contract part of a profile's result. */
export interface ContractResult {
  /** A driver contract (smmu profiles) or an iova-bitmap contract (spec/iova-bitmap/contracts.ts). */
  readonly name: ContractName | IovaBitmapContractName;
  /** The contract the adapter declares, when it is not the one checked. */
  readonly declared?: ContractName | IovaBitmapContractName;
  /** Configurations the implementation's create refused, as the contract allows. */
  readonly refused: readonly { readonly config: string; readonly errno: number; readonly sequences: number }[];
  /** Pages the contract lost by its own design in the random runs, not charged to the implementation, by the rule that allows it. */
  readonly excused: Readonly<Record<string, number>>;
  /** The contract's hazards (run in the campaign's first block; empty for strict). */
  readonly hazards: readonly HazardResult[];
}

/** The contract a run checks: `--contract` if given, else the one the adapter declares, else strict. */
export function runContract(adapter: SmmuAdapter, requested: ContractName | undefined): { contract: Contract; declared?: ContractName } {
  const declared = adapter.contract;
  const contract = contractByName(requested ?? declared ?? 'strict');
  return { contract, ...(declared !== undefined && declared !== contract.name ? { declared } : {}) };
}

/**
 * Where an adapter's declared capabilities differ from its contract's: each field as a
 * dotted path (empty when they agree or none are declared). `--contract` refuses to run then.
 */
export function capabilityMismatches(adapter: SmmuAdapter, contract: Contract = contractByName(adapter.contract ?? 'strict')): string[] {
  if (adapter.capabilities === undefined) return [];
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}: declared ${JSON.stringify(a)}, contract ${contract.name} has ${JSON.stringify(b)}`);
  };
  walk(adapter.capabilities, contract.capabilities as Capabilities, '');
  return out;
}

/** The configuration of one sequence as the contract sees it: the HD quirk and page-granular policy it allows. */
export function contractConfig<C extends SystemConfig>(caps: Capabilities, cfg: C, kitIsDriver: boolean, contract: ContractName): C {
  const pageGranular = caps.create.pageGranular === 'never' ? false : caps.create.pageGranular === 'always' ? true : cfg.pageGranular;
  let dirtyCapable = caps.create.hdQuirkFrom === 'hardware' ? cfg.httu === 2 : cfg.dirtyCapable;
  // smmu-hw: the kit is the driver, and does not ask for what its own contract refuses.
  if (kitIsDriver && refusalOf(contract, cfg.httu, dirtyCapable) !== 0) dirtyCapable = false;
  return { ...cfg, pageGranular, dirtyCapable };
}

/** The errno the contract's create refuses a configuration with (0: accepted). The kit's SMMU is coherent (IDR0.COHACC). */
export function refusalOf(contract: ContractName, httu: number, dirtyCapable: boolean): number {
  for (const r of contracts[contract].capabilities.create.refuses) if (r.when === 'dirtyCapableWithoutHttu2' && dirtyCapable && httu !== 2) return -ERRNO[r.errno];
  return 0;
}

const configText = (c: SystemConfig) => `httu=${c.httu} bbml=${c.bbml} dirtyCapable=${c.dirtyCapable} pageGranular=${c.pageGranular}`;

/**
 * create refused `config` with `errno`: recorded when the contract allows that refusal
 * (capabilities.create.refuses), a violation of the rule that says create accepts
 * otherwise (TRACK-1 under strict, CREATE-U1 / CREATE-R1 where a contract replaces it).
 */
export function judgeRefusal(ctx: RunContext, config: SystemConfig, errno: number): void {
  const c = ctx.contract;
  const allowed = refusalOf(c.name, config.httu, config.dirtyCapable);
  if (allowed !== 0 && allowed === errno) {
    const key = configText(config);
    const prev = ctx.refused.get(key);
    ctx.refused.set(key, { errno, sequences: (prev?.sequences ?? 0) + 1 });
    return;
  }
  const rule = c.rules.replaced.find((r) => r.id === 'TRACK-1')?.by.filter((id) => id.startsWith('CREATE')) ?? ['TRACK-1'];
  throw new Violation('spec', rule, allowed === 0 ? `create(${configText(config)}) accepted (contract ${c.name} refuses no such configuration)` : `create(${configText(config)}) refused with ${allowed}`, `refused with ${errno}`);
}

/** The contract part of a result, from the run's context and its hazards. */
export function contractResult(ctx: RunContext, declared: ContractName | undefined, hazards: readonly HazardResult[]): ContractResult {
  return {
    name: ctx.contract.name,
    ...(declared === undefined ? {} : { declared }),
    refused: [...ctx.refused].map(([config, r]) => ({ config, errno: r.errno, sequences: r.sequences })).sort((a, b) => a.config.localeCompare(b.config)),
    excused: Object.fromEntries([...ctx.excused].sort(([a], [b]) => a.localeCompare(b))),
    hazards,
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** One scenario step as text. */
export function hazardStepText(s: HazardStep): string {
  switch (s.op) {
    case 'create':
      return `create(HTTU=${s.httu}, BBML=${s.bbml}, dirtyCapable=${s.dirtyCapable}, pageGranular=${s.pageGranular})`;
    case 'attach':
      return `attach(stream ${s.stream})`;
    case 'setDirtyTracking':
      return `setDirtyTracking(${s.enable})`;
    case 'map':
      return `map(${hex(s.iova)}, ${hex(s.size)}, ${s.write ? 'rw' : 'r'}, pa ${s.pa})`;
    case 'dmaWrite':
      return `dmaWrite(stream ${s.stream}, ${hex(s.iova)})`;
    case 'readAndClearDirty':
      return `readAndClearDirty(${hex(s.iova)}, ${hex(s.size)}${s.noClear ? ', IOMMU_DIRTY_NO_CLEAR' : ''})`;
    case 'unmap':
      return `unmap(${hex(s.iova)}, ${hex(s.size)})`;
    case 'splitBlock':
      return `splitBlock(${hex(s.iova)})`;
    case 'mergePages':
      return `mergePages(${hex(s.iova)}, L${s.level})`;
  }
}

/** Runs the scenario on the implementation: the pages each report or unmap returned, by step. */
async function runScenario(adapter: SmmuAdapter, contract: Contract, steps: readonly HazardStep[], limits: CallLimits): Promise<Map<number, Set<number>>> {
  const first = steps[0];
  if (first?.op !== 'create') throw new Error('a hazard scenario starts with create');
  const config: SystemConfig = { httu: first.httu, bbml: first.bbml === 0 ? 0 : 2, iotlbCapacity: 8, dirtyCapable: first.dirtyCapable, pageGranular: first.pageGranular };
  const sys: System = await createSystem(adapter, config, { timeoutMs: limits.timeoutMs, watch: limits.watch, contract: contract.name });
  // An SMMU that presents another HTTU or BBML (run-profile.ts runSequence) cannot run a scenario written for this one.
  const p = sys.presents;
  if (p !== undefined) throw new Undecided(`the SMMU presents SMMU_IDR0.HTTU=${p.httu}, SMMU_IDR3.BBML=${p.bbml}, not the scenario's HTTU=${config.httu}, BBML=${config.bbml}`);
  const out = new Map<number, Set<number>>();
  let pa = 0x1_0000_0000;
  for (const [i, s] of steps.entries()) {
    switch (s.op) {
      case 'create':
        break;
      case 'attach':
        await sys.attach(s.stream);
        sys.streams.push(s.stream);
        break;
      case 'setDirtyTracking':
        await sys.setDirtyTracking(s.enable);
        break;
      case 'map':
        await sys.map(s.iova, pa + (s.pa === 'page-aligned' ? 0x1000 : 0), s.size, s.write ? 3 : 1);
        pa += 0x200_0000;
        break;
      case 'dmaWrite':
        await sys.dma(s.stream, s.iova, true);
        break;
      case 'readAndClearDirty': {
        const r = await sys.readAndClearDirty(s.iova, s.size, s.noClear ? 1 : 0);
        out.set(i, new Set(dirtyBitmapPages(r.dirty, s.iova)));
        break;
      }
      case 'unmap': {
        const r = await sys.unmap(s.iova, s.size);
        out.set(i, new Set(dirtyBitmapPages(r.dirty, s.iova)));
        break;
      }
      case 'splitBlock':
        await sys.splitBlock(s.iova, 0x20_0000);
        break;
      case 'mergePages':
        await sys.mergePages(s.iova, s.level, s.level === 1 ? 0x4000_0000 : 0x20_0000);
        break;
    }
  }
  return out;
}

/** Each hazard of the contract: its scenario in the contract's simulation and on the implementation (its calls limited by `limits`). */
export async function runHazards(adapter: SmmuAdapter, contract: Contract, limits: CallLimits): Promise<HazardResult[]> {
  const out: HazardResult[] = [];
  for (const h of contract.hazards) {
    let bySimulation = false;
    try {
      const sim = simulate(contract, h.steps);
      bySimulation = sim.misses.some((m) => m.atStep === h.misses.atStep && h.misses.pages.every((p) => m.pages.includes(p)));
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
    }
    let onImplementation: HazardResult['onImplementation'] = 'not-run';
    let note: string | undefined;
    try {
      const reported = await runScenario(adapter, contract, h.steps, limits);
      const got = reported.get(h.misses.atStep) ?? new Set<number>();
      onImplementation = h.misses.pages.every((p) => !got.has(p)) ? 'demonstrated' : 'not-shown';
      if (onImplementation === 'not-shown') note = 'the implementation reported the pages: it does more than its contract asks';
    } catch (e) {
      if (e instanceof CreateRefused) note = `create refused the scenario's configuration (${e.errno})`;
      else if (e instanceof Undecided) note = `the scenario could not run: ${e.message}`;
      else throw e;
    }
    out.push({
      id: h.id,
      title: h.title,
      nature: h.nature,
      req: h.req,
      source: h.source,
      scenario: h.steps.map((s, i) => `${hazardStepText(s)}${i === h.misses.atStep ? `  <- misses ${h.misses.pages.map(hex).join(', ')}` : ''}`),
      misses: h.misses,
      bySimulation,
      onImplementation,
      ...(note === undefined ? {} : { note }),
    });
  }
  return out;
}
