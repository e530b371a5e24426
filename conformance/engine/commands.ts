// The operations of a run, one small class each (in the manner of fast-check's own
// model-based tests): `check` says whether the command applies and never mutates; `run`
// drives the system, predicts the outcome from the spec model, compares, and appends a
// step to the trace. Any difference throws a Violation naming the requirements.
import type fc from 'fast-check';
import { dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import { type Level, armLpaeBlockSize, decodeLeaf } from '../../spec/descriptor/encoding.ts';
import { leafStateOf } from '../../spec/descriptor/leaf-machine.ts';
import { walkLeafWords, walkLeaves } from '../../spec/descriptor/walk.ts';
import { type DescriptorChecker, checkTlb, leafAsModelled, noteEvictions } from '../../model/check-descriptors.ts';
import { type DescriptorModel, KIT_SMMU_CHOICE, type SmmuChoice, type ReadAndClearWalk, type SyncInProgress, type UnmapPlan } from '../../model/descriptor-model.ts';
import { explain } from '../../model/explain.ts';
import { DirtyGhost, PageRuns } from '../../model/ghost.ts';
import type { TakenTransition } from '../../model/transition-table.ts';
import { Violation } from '../../model/violation.ts';
import type { DmaOutcome } from '../adapters/types.ts';
import type { System, SystemConfig } from './system.ts';
import { ERRNO, effectiveRules } from '../../spec/contracts/index.ts';

export const PAGE = 0x1000;
export const MiB2 = 0x20_0000;
export const GiB = 0x4000_0000;
/** The low IOVA window a run works in: four 2 MiB regions. */
export const WINDOW = 4 * MiB2;
/**
 * The high region: the span of one level-1 (1 GiB) block, 1 GiB-aligned, where 1 GiB blocks
 * are mapped, split (to 2 MiB blocks, one of those to pages), merged, read and unmapped. Memory
 * is sparse, so a 1 GiB block costs one descriptor; the kit never splits one to 262,144 pages.
 * It starts at 4 GiB, so every IOVA in it needs more than 32 bits: a driver that keeps an
 * address, a walk cursor or a table index in a 32-bit type (C's `unsigned int` or `u32`
 * where Linux has `unsigned long`) maps, writes or reports the wrong place there, where
 * below 4 GiB the same code is right.
 */
export const HIGH = 4 * GiB;
/** Where the kit checks the page table and makes its final report: the low window and the high region. */
export const SPAN = HIGH + GiB;

/** A part of the IOVA space a command works in. */
export interface Region {
  readonly base: number;
  readonly size: number;
}
export const LOW_REGION: Region = { base: 0, size: WINDOW };
export const HIGH_REGION: Region = { base: HIGH, size: GiB };
/** The model's leaves that start in `region`, in IOVA order. */
function leavesOf(model: DescriptorModel, region: Region) {
  return model.leavesIn(region.base, region.size).filter((l) => l.iova >= region.base);
}
/**
 * The most the high region may hold where a later step could split its blocks to pages:
 * under a page-granular policy enabling tracking splits every block (strict, TRACK-4), or every
 * writable one (rfc-2021, TRACK-R2), down to pages. There a map in the high region adds at most
 * 4 MiB, and none once it holds 8 MiB: a 1 GiB block split to 262,144 pages would make every
 * later step of the sequence slow, not check anything more.
 */
function highRoom(model: DescriptorModel, write: boolean): number {
  if (!model.pageGranular) return GiB;
  if (!write && model.caps.setDirtyTracking.enable.splits === 'writable-dirty-blocks') return GiB;
  const held = model.leavesIn(HIGH, GiB).reduce((a, l) => a + l.size, 0);
  return held >= 4 * MiB2 ? 0 : 2 * MiB2;
}
const EINVAL = 22;
const EEXIST = 17;
const EOPNOTSUPP = 95;
const IOMMU_READ = 1;
const IOMMU_WRITE = 2;
const IOMMU_DIRTY_NO_CLEAR = 1;

/**
 * One step of a run. A counterexample's last step is the one whose check failed: every
 * command records its step before it throws.
 */
export interface TraceStep {
  readonly op: string;
  readonly answer: string;
  readonly expected: string;
  readonly req: readonly string[];
  /** The spec machine transitions the model took for this step, each once (absent where no machine models the step). */
  readonly transitions?: readonly TakenTransition[];
}

/** What the commands share: the spec model and ghost on one side, the system and trace on the other. */
export interface RunModel {
  readonly model: DescriptorModel;
  readonly ghost: DirtyGhost;
  readonly config: SystemConfig;
  nextPa: number;
  /** The last DMA target, so a later access can hit the IOTLB entry it left. */
  lastIova?: number;
}

export interface RunReal {
  readonly sys: System;
  /** Compares the page table in kit memory with the model after every operation (where either changed). */
  readonly checker: DescriptorChecker;
  readonly trace: TraceStep[];
  commands: number;
}

export type RunCommand = fc.AsyncCommand<RunModel, RunReal>;

/**
 * smmu-driver: a DMA write injected while the driver's operation runs, to the page +offset
 * pages into the operation's range or leaf. When `aimed`, it lands at the operation's
 * `at`-th access (from 0) to the descriptor that translates that page, so a read and a
 * later write of a live descriptor are raced on purpose; otherwise at its `at`-th memory
 * access of any kind.
 */
export interface Injection {
  readonly at: number;
  readonly offset: number;
  readonly aimed: boolean;
  /**
   * Aimed only: the write lands just after the `at`-th access to the target descriptor (before
   * the operation's next access of any kind), not just before it: between a driver's one read
   * of a descriptor and the exchange that replaces it, wherever those fall in its accesses.
   */
  readonly after?: boolean;
}

const injectionText = (i: Injection) => `DMA write ${i.after === true ? 'after' : 'at'} driver access ${i.at}${i.aimed ? ' to the target descriptor' : ''} to +${i.offset} pages`;

const hex = (n: number) => `0x${n.toString(16)}`;
const ERRNO_NAMES = new Map(Object.entries(ERRNO).map(([name, value]) => [-value, `-${name}`]));
const errnoName = (e: number) => (e === 0 ? '0' : e === -EINVAL ? '-EINVAL' : e === -EEXIST ? '-EEXIST' : e === -EOPNOTSUPP ? '-EOPNOTSUPP' : (ERRNO_NAMES.get(e) ?? String(e)));
const dmaText = (d: DmaOutcome) => (d.ok ? `ok pa=${hex(d.pa)}` : `fault ${d.fault}`);

/** One step of the trace, with the rules and transitions the model noted for it; counts the command. */
export function record(r: RunReal, m: RunModel, op: string, answer: string, expected: string): void {
  r.trace.push({ op, answer, expected, req: [...m.model.opReq], transitions: [...m.model.opTransitions] });
  r.commands++;
}

/** After every operation: the page table in kit memory and, where visible, the IOTLB match the spec. */
function checkState(m: RunModel, r: RunReal): void {
  // IOTLB-12, where the contract keeps it (rfc-2021's merge frees before its flush: dropped there).
  const freed = r.sys.freedWalkedTable?.();
  if (freed !== undefined && effectiveRules(m.model.contract).includes('IOTLB-12')) throw new Violation(freed.kind, [...freed.req, ...m.model.opReq], freed.expected, freed.actual);
  const tlb = r.sys.tlb();
  if (tlb !== undefined) checkTlb(m.model, tlb);
  r.checker.check(m.model, r.sys.ttb0(), true);
}

function mismatch(model: DescriptorModel, what: string, expected: string, actual: string, kind: 'spec' | 'loss' = 'spec'): never {
  throw new Violation(kind, [...model.opReq], `${what} ${expected}`, actual);
}

interface ExpectedOutcome {
  readonly text: string;
  readonly ok: boolean;
  readonly fault?: string;
  readonly pa?: number;
  /** The write completed through a stale IOTLB entry the kit itself left (IOTLB-7, IOTLB-8): it is not owed. */
  readonly hazard?: boolean;
}

/** The spec's outcome for one DMA access (and the model stepped accordingly); `choice`: the SMMU's where the architecture leaves it open (smmuChoices). */
function expectDma(model: DescriptorModel, iova: number, write: boolean, streamId: number, choice: SmmuChoice = KIT_SMMU_CHOICE): ExpectedOutcome {
  const leaf = model.leafAt(iova);
  const e = model.dma(iova, write, streamId, choice);
  if (!e.ok) return { text: `fault ${e.fault}`, ok: false, fault: e.fault };
  if (e.hazard !== undefined) return { text: `ok (through a stale IOTLB entry: ${e.hazard})`, ok: true, hazard: true };
  const pa = leaf !== undefined ? leaf.oa + (iova - leaf.iova) : undefined;
  return { text: pa === undefined ? 'ok' : `ok pa=${hex(pa)}`, ok: true, ...(pa === undefined ? {} : { pa }) };
}

/**
 * The ghost's record of a completed write at `iova` (owed while tracking). `throughLeaf`: the
 * write went through a leaf; by default, whether the model holds one there now (a write that
 * came before a racing unmap went through the leaf the unmap then took: its caller says so).
 */
function noteWrite(m: RunModel, iova: number, want: ExpectedOutcome, throughLeaf = m.model.leafAt(iova) !== undefined): void {
  // IOTLB-7 under a contract with hazards: a write absorbed by an entry cached writable-dirty that its contract does not invalidate (H-U2, H-U3) is not owed.
  if (want.ok && want.hazard === true && m.ghost.tracking && m.model.contract.hazards.length > 0) m.model.ctx.excuse('IOTLB-7', 1);
  if (want.ok && !want.hazard && throughLeaf) m.ghost.dmaWrite(iova - (iova % PAGE));
}

function sameDma(model: DescriptorModel, got: DmaOutcome, want: ExpectedOutcome, what: string): void {
  const same = got.ok === want.ok && (got.ok ? want.pa === undefined || got.pa === want.pa : got.fault === want.fault);
  if (!same) mismatch(model, what, want.text, dmaText(got));
}

/** The range of `pages` pages from page `page`, clipped to the end of its region (the low window or the high region). */
function range(page: number, pages: number): [number, number] {
  const iova = page * PAGE;
  return [iova, Math.max(PAGE, Math.min(pages * PAGE, (iova >= HIGH ? SPAN : WINDOW) - iova))];
}

export class MapCommand implements RunCommand {
  constructor(
    readonly page: number,
    readonly pages: number,
    readonly write: boolean,
    readonly aligned: boolean,
    /** The output address itself, where a command chose it (MapAtOutputLimitCommand: the top of the output address space). */
    readonly pa?: number,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const [iova, wanted] = range(this.page, this.pages);
    if (this.pa !== undefined) return mapRange(m, r, iova, wanted, this.pa, this.write, `${this}`);
    if (iova < HIGH) {
      // Aligned: the output address has the IOVA's offset in its 2 MiB, so a map that starts
      // inside a 2 MiB region lays out pages to the boundary, then blocks, then pages (as
      // __iommu_map does for a region that starts at 1 MiB); else one page off: pages only.
      const pa = m.nextPa + (this.aligned ? iova % MiB2 : PAGE);
      m.nextPa += 2 * WINDOW;
      await mapRange(m, r, iova, wanted, pa, this.write, `${this}`);
      return;
    }
    // The high region: the output address has the IOVA's offset in its 1 GiB, so blocks form wherever the
    // IOVA allows (a 1 GiB block at a 1 GiB-aligned IOVA); not block-aligned, it is 2 MiB off: 2 MiB blocks,
    // never a 1 GiB range of pages.
    const size = Math.min(wanted, highRoom(m.model, this.write));
    if (size === 0) return;
    const base = Math.ceil(m.nextPa / GiB) * GiB;
    m.nextPa = base + 2 * GiB;
    const pa = base + (iova % GiB) + (this.aligned ? 0 : MiB2);
    await mapRange(m, r, iova, size, pa, this.write, `${this}${size < wanted ? ` (${size / PAGE} pages: page-granular)` : ''}`);
  }
  toString = () =>
    `map(${hex(this.page * PAGE)}, ${this.pages} pages, ${this.write ? 'rw' : 'r'}, pa ${this.aligned ? ((this.page * PAGE) % MiB2 === 0 ? 'block-aligned' : "with the IOVA's offset in 2 MiB") : this.page * PAGE >= HIGH ? '2 MiB-aligned' : 'page-aligned'})`;
}

/**
 * Maps the first hole of a 2 MiB region that has mappings, so the region can be whole
 * again: with the output addresses and permission the region's first leaf implies (then
 * the pages may merge, MERGE-1/2), or with other addresses or the other permission (then
 * they must not).
 */
export class RefillCommand implements RunCommand {
  constructor(
    readonly region: number,
    readonly samePa: boolean,
    readonly sameWrite: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const base = (this.region % (WINDOW / MiB2)) * MiB2;
    const leaves = m.model.leavesIn(base, MiB2);
    const first = leaves[0];
    if (first === undefined || leaves.some((l) => l.size >= MiB2)) return;
    let hole = base;
    for (const l of leaves) {
      if (l.iova > hole) break;
      hole = l.iova + l.size;
    }
    if (hole >= base + MiB2) return;
    const next = leaves.find((l) => l.iova > hole);
    const size = (next?.iova ?? base + MiB2) - hole;
    const pa = this.samePa ? first.oa - (first.iova - hole) : m.nextPa + PAGE;
    if (!this.samePa) m.nextPa += 2 * WINDOW;
    if (pa < 0) return;
    const write = this.sameWrite ? first.write : !first.write;
    await mapRange(m, r, hole, size, pa, write, `${this} -> map(${hex(hole)}, ${size / PAGE} pages, ${write ? 'rw' : 'r'}, pa ${hex(pa)})`);
  }
  toString = () => `refill region ${hex((this.region % (WINDOW / MiB2)) * MiB2)} (${this.samePa ? 'its own output addresses' : 'other output addresses'}, ${this.sameWrite ? 'same' : 'other'} permission)`;
}

/** One map call checked: its errno, and the leaves it made cover exactly the range (MAP-1..5). */
async function mapRange(m: RunModel, r: RunReal, iova: number, size: number, pa: number, write: boolean, op: string): Promise<void> {
  const overlap = m.model.hasLeafIn(iova, size);
  const ret = await r.sys.map(iova, pa, size, write ? IOMMU_READ | IOMMU_WRITE : IOMMU_READ);
  const want = overlap ? -EEXIST : 0;
  if (overlap) m.model.mapOverMapped(iova, size, write, pa);
  const mapped = ret === want && !overlap;
  // What a successful map made: leaves that cover exactly [iova, iova + size), no more and no less.
  let layout: string | undefined;
  if (mapped) {
    const leaves = leavesOfRange(r, iova, size, pa);
    const outside = leaves.find((l) => l.iova < iova || l.iova + l.size > iova + size);
    const covered = leaves.reduce((a, l) => a + l.size, 0);
    if (outside !== undefined) layout = `a leaf ${hex(outside.iova)} L${outside.level} reaching outside the range`;
    else if (covered !== size) layout = `leaves covering ${hex(covered)} of its ${hex(size)} bytes`;
    m.model.map(leaves, write);
  }
  record(r, m, op, `${errnoName(ret)}${layout === undefined ? '' : `, ${layout}`}`, errnoName(want));
  if (ret !== want) mismatch(m.model, `map(${hex(iova)}, pa ${hex(pa)}, ${hex(size)}) returns`, errnoName(want), errnoName(ret));
  if (layout !== undefined) {
    // MAP-1 (read-only) or MAP-2/MAP-3 (writable): the map makes the range's leaves valid, each page translated once.
    const rule = !write ? 'MAP-1' : m.model.hdQuirk ? 'MAP-2' : 'MAP-3';
    throw new Violation('spec', [rule, 'PTE-4'], `map(${hex(iova)}, pa ${hex(pa)}, ${hex(size)}) returning 0 maps exactly that range`, layout);
  }
  checkState(m, r);
}

/** The leaves the implementation created for a range (its layout choice, read from kit memory), with the output address each must have for a map of the range at `pa`. */
function leavesOfRange(r: RunReal, iova: number, size: number, pa: number): { iova: number; level: Level; size: number; oa: number }[] {
  const ttb0 = r.sys.ttb0();
  const leaves: { iova: number; level: Level; size: number; oa: number }[] = [];
  if (ttb0 !== 0) walkLeafWords(r.sys.memory, ttb0, iova, size, (at, level) => void leaves.push({ iova: at, level, size: armLpaeBlockSize(level), oa: pa + (at - iova) }));
  return leaves;
}

export class UnmapCommand implements RunCommand {
  constructor(
    readonly page: number,
    readonly pages: number,
    /** smmu-driver: a DMA write while the driver unmaps, to +offset pages of the range. */
    readonly inject: Injection | undefined = undefined,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const [iova, size] = range(this.page, this.pages);
    const partlyCovered = (model: DescriptorModel) => model.leavesIn(iova, size).find((l) => l.iova < iova || l.iova + l.size > iova + size);
    // A contract that refuses a cut block or stops at a hole (linux-upstream) unmaps [iova, plan.end) only, and may read no dirty state.
    const u = m.model.caps.unmap;
    let plan = u.partialBlock === 'split' && u.hole === 'skip' ? undefined : m.model.unmapPlan(iova, size);
    // Where the spec allows more than one outcome, every plan, the contract's first; the one the
    // implementation took is the first whose bytes are those it answered and, where it stopped at
    // a cut block, whose block is at the level memory shows:
    // - a cut block refused or split (linux-upstream: v6.13 on, and v6.11-v6.12, whose split
    //   gives up where the hardware changed the block), each prefix of the splits;
    // - a table only a refused map made, there or not (DescriptorModel.maybeTables).
    // - a split given up where a racing write dirtied the cut block (rfc-2021: v5.12's split compares the block it read; `unmap.splitGivesUpWhenChanged`).
    const splitOrNot = u.partialBlock === 'refuse-or-split' && plan?.stop === 'cut';
    const inject = this.inject === undefined ? undefined : { ...this.inject, iova: iova + ((this.inject.offset * PAGE) % size) };
    const givesUp = u.splitGivesUpWhenChanged === true && inject !== undefined && plan !== undefined && plan.splits.length > 0;
    const maybe = plan !== undefined && m.model.maybeTablesIn(iova, size);
    const plans =
      splitOrNot || maybe || givesUp
        ? (maybe ? [true, false] : [true]).flatMap((withMaybe) => (splitOrNot || givesUp ? m.model.unmapPlans(iova, size, withMaybe) : [m.model.unmapPlan(iova, size, undefined, undefined, withMaybe)]))
        : undefined;
    let end = plan?.end ?? iova + size;
    let wantBytes: number;
    // The blocks split first, in order (UNMAP-1 with SPLIT-1): a partly covered block, then
    // (a 1 GiB block cut inside one of its 2 MiB parts) the part split from it.
    let splits: readonly number[];
    if (plan === undefined) {
      // The splits are found on a copy of the model (only where a block is cut: most unmaps cut none).
      const probe = partlyCovered(m.model) === undefined ? m.model : m.model.clone();
      const found: number[] = [];
      for (let l = partlyCovered(probe); l !== undefined; l = partlyCovered(probe)) {
        found.push(l.iova);
        probe.split(l.iova);
      }
      splits = found;
      wantBytes = probe.leavesIn(iova, size).reduce((a, l) => a + l.size, 0);
    } else {
      splits = plan.splits;
      wantBytes = plan.bytes;
    }
    let got: { unmapped: number; dirty: Uint8Array } | undefined;
    // NOLOSS-3 (or the contract's rule in its place) is at stake only where a page of the range is owed, or a write races the unmap while tracking.
    const owedHere = () => m.ghost.tracking && (inject !== undefined || m.ghost.owesIn(iova, end));
    // The pages of the writable-dirty leaves the unmap removes (in the order being tried): its bitmap may hold no other (PRECISION-1).
    let mayReport = new PageRuns();
    m.ghost.beginReport();
    const { dma, dmaAt, stages } = await recordFailure(
      r,
      m,
      `${this}`,
      () => (got === undefined ? '(no answer)' : `${hex(got.unmapped)} bytes`),
      () => `${hex(wantBytes)} bytes`,
      () =>
        withInjectedWrite(
          m,
          r,
          inject,
          async () => {
            got = await r.sys.unmap(iova, size);
            return got;
          },
          {
            after: ({ unmapped }, race) => {
              // A split given up only where the write went through and dirtied the clean block it cut (changedBy).
              const took = plans?.find((p) => p.bytes === unmapped && (p.stop !== 'cut' || leafLevelAt(r, p.end) === p.cutLevel) && (!givesUp || p.stop !== 'cut' || changedBy(m.model, p, inject!.iova, race)));
              if (took !== undefined) {
                plan = took;
                ({ splits, end, bytes: wantBytes } = took);
              }
              return [
                // Each split a stage of its own: a write between two splits (the 1 GiB block split,
                // its 2 MiB part not yet) dirties the part, and the next split carries that to its pages.
                ...splits.map((a) => (model: DescriptorModel) => model.split(a)),
                (model: DescriptorModel) => {
                  mayReport = u.reportsDirty && end > iova ? dirtyPages(model, iova, end - iova) : new PageRuns();
                  if (end > iova) model.unmap(iova, end - iova);
                  model.noteRule('UNMAP-1');
                  if (owedHere()) model.noteRule('NOLOSS-3');
                  // What ended the unmap early: a block the range cuts (UNMAP-U1) or a hole (UNMAP-U2); or the cut block split where the contract allows it (UNMAP-U1).
                  // (A split given up is UNMAP-1's own: the contract has no rule of a refused cut block.)
                  if (plan?.stop === 'hole' || (plan?.stop === 'cut' && !givesUp)) model.note([plan.stop === 'cut' ? 'UNMAP-U1' : 'UNMAP-U2']);
                  else if (splitOrNot) model.note(['UNMAP-U1']);
                },
              ];
            },
          },
          (model, result) => {
            if (result.unmapped !== wantBytes) throw new Violation('spec', [...model.opReq], `unmap(${hex(iova)}, ${hex(size)}) unmaps ${hex(wantBytes)} bytes`, `${hex(result.unmapped)} bytes`);
            if (!u.reportsDirty) return;
            const extra = PageRuns.fromBitmap(result.dirty, iova).minus(mayReport);
            if (extra.size > 0)
              throw new Violation('precision', ['PRECISION-1', 'NOLOSS-3'], `unmap(${hex(iova)}, ${hex(size)})'s dirty bitmap holds only pages of the writable-dirty leaves it removes: ${mayReport.text()}`, `also ${extra.text()}`);
          },
        ),
    );
    const reported = PageRuns.fromBitmap(got!.dirty, iova);
    record(r, m, `${this}`, `${hex(got!.unmapped)} bytes, dirty ${reported.text()}${dma === undefined ? '' : `; injected DMA ${dmaText(dma)}`}`, `${hex(wantBytes)} bytes`);
    // A write that landed before the unmap took its leaf (the descriptors show it) has no later report: this one must have it.
    if (u.reportsDirty && inject !== undefined && dma?.ok === true && dmaAt !== undefined && dmaAt < stages && m.ghost.tracking) {
      const page = inject.iova - (inject.iova % PAGE);
      if (!reported.has(page)) throw new Violation('loss', ['NOLOSS-3', 'UNMAP-1'], `page ${hex(page)}, written by DMA before the unmap removed its leaf, in the unmap's dirty bitmap`, `missing: ${reported.text()}`);
    }
    if (u.reportsDirty) m.ghost.endReport(iova, end - iova, reported, true, 'any', 'NOLOSS-3');
    // UNMAP-U3: the unmap reads no dirty state; what was owed in its range is lost by the contract's design (hazard H-U1, H-R1).
    else m.model.ctx.excuse(m.model.contract.rules.replaced.find((x) => x.id === 'NOLOSS-3')?.by[0] ?? 'NOLOSS-3', [...m.ghost.owed].filter((p) => p >= iova && p < end).length);
    m.ghost.forget(iova, end - iova);
    checkState(m, r);
  }
  toString = () => `unmap(${hex(this.page * PAGE)}, ${this.pages} pages${this.inject === undefined ? '' : `, ${injectionText(this.inject)}`})`;
}

/**
 * Whether the write `race` injected into an unmap changed the block the unmap `plan` stops
 * at, so that a split comparing the block it read gives up there: the write went through,
 * its target is in that block, and the block was writable-clean (HD makes it dirty), in the
 * model and in the leaf the write met. v5.12 drivers/iommu/io-pgtable-arm.c
 * arm_lpae_split_blk_unmap: `if (pte != blk_pte)` and not a table, "Bytes unmapped" 0.
 */
function changedBy(model: DescriptorModel, plan: UnmapPlan, target: number, race: InjectedRace): boolean {
  const block = model.leafAt(plan.end);
  if (block === undefined || plan.cutLevel === undefined || race.dma?.ok !== true) return false;
  const span = armLpaeBlockSize(plan.cutLevel);
  const base = plan.end - (plan.end % span);
  if (target < base || target >= base + span || leafStateOf(block.snap).state !== 'writableClean') return false;
  // The leaf the write met (where it walked): that block, or the block it was split from, still writable-clean.
  const met = race.seen;
  return met === undefined || (met.iova <= base && met.iova + armLpaeBlockSize(met.level) >= base + span && decodeLeaf(met.pte, met.level).state === 'writableClean');
}

/** A target IOVA: a mapped leaf of the region, biased to its first and last byte, or anywhere in the region. */
export function pickIova(model: DescriptorModel, pick: number, offset: number, last?: number, region: Region = LOW_REGION): number {
  if (last !== undefined && pick % 3 === 2) return last; // the same page again: through the IOTLB
  // The leaves that start in the region, counted and picked without listing them: both regions
  // are 1 GiB-aligned or start at 0, so no leaf that starts before one reaches into it.
  const count = model.countLeavesIn(region.base, region.size);
  if (count === 0 || pick % 5 === 4) return region.base + ((offset * PAGE) % region.size);
  const l = model.nthLeafIn(region.base, region.size, pick % count)!;
  return l.iova + [0, l.size - 1, (offset * PAGE) % l.size][pick % 3]!;
}

export type SoftwareChange = 'unmapLeaf' | 'splitBlock' | 'readAndClear';

/**
 * Whether an entry the model caches may have been evicted before an access without the
 * kit seeing it happen (IOTLB-11): where the IOTLB cannot be seen, and where it is the
 * implementation's (the kit plays the driver), which may evict at any time; not the kit's
 * own SMMU (smmu-driver), which evicts only to make room for a walk's entry.
 */
/**
 * A DMA's alternative checked against what the system shows after it: where the IOTLB is
 * visible, the evictions it made first (so a fault of an eviction is blamed on it, IOTLB-11),
 * then memory, then the entries (two orders of a race may leave the same memory and
 * different entries: the entries decide).
 */
function seenThrough(c: DescriptorModel, r: RunReal, tlb: readonly { base: number; level: number; state: string }[] | undefined): void {
  if (tlb !== undefined) noteEvictions(c, tlb);
  r.checker.check(c, r.sys.ttb0());
  if (tlb !== undefined) checkTlb(c, tlb);
}

/** The level of the leaf translating `iova` in memory, if any. */
function leafLevelAt(r: RunReal, iova: number): Level | undefined {
  const ttb0 = r.sys.ttb0();
  return ttb0 === 0 ? undefined : walkLeaves((a) => r.sys.memory.load(a), ttb0, iova - (iova % PAGE), PAGE)[0]?.level;
}

/** Whether memory shows a software change made inside a hardware access undone: a leaf where an unmap removed one, a block where a split put a table. */
function changeUndone(r: RunReal, change: SoftwareChange, changed: { iova: number; size: number }): boolean {
  const ttb0 = r.sys.ttb0();
  if (ttb0 === 0 || change === 'readAndClear') return false;
  const leaf = walkLeaves((a) => r.sys.memory.load(a), ttb0, changed.iova, PAGE)[0];
  return change === 'unmapLeaf' ? leaf !== undefined : leaf !== undefined && leaf.size === changed.size;
}

function implementationMayEvict(r: RunReal, tlb: readonly unknown[] | undefined): boolean {
  return tlb === undefined || r.sys.kitPlays === 'driver';
}

/**
 * The choices of the SMMU a DMA is explained by where the architecture leaves them open
 * (DescriptorModel SmmuChoice), the kit's own SMMU's first. The kit's SMMU (smmu-driver)
 * takes none. An SMMU under test (smmu-hw) may keep a permission-faulted leaf in its IOTLB
 * once AF is 1 (IOTLB-2): where the kit sees its IOTLB, keeping it or not is tried; where it
 * does not, the model keeps it, and the IOTLB may have evicted it since (IOTLB-11). It may
 * set AF on the way (HTTU-1: UNKNOWN), tried where the leaf has AF=0 and HA is on. Both only
 * where the access is a write to a leaf it may fault on (read-only or writable-clean). And an
 * access through a cached entry may act on the HA/HD the entry was filled with, tried where
 * the kit changed the CD since without a TLB invalidation (IHI 0070 G.b §5.4.1).
 */
function smmuChoices(r: RunReal, model: DescriptorModel, iova: number, write: boolean, streamId: number): readonly SmmuChoice[] {
  if (r.sys.kitPlays !== 'driver') return [KIT_SMMU_CHOICE];
  const leaf = model.leafAt(iova);
  const state = leaf === undefined ? undefined : leafStateOf(leaf.snap);
  const mayFault = write && (state?.state === 'readOnly' || state?.state === 'writableClean');
  const afOpen = mayFault && state?.accessFlag === false && model.effective(streamId).ha;
  const keep = mayFault && r.sys.tlb() !== undefined ? [false, true] : [true];
  const choices: SmmuChoice[] = [];
  for (const setAccessFlag of afOpen ? [false, true] : [false]) for (const cache of keep) choices.push({ setAccessFlag, cache, entryCd: false });
  if (model.cachedCdDiffers(iova, streamId)) choices.push({ setAccessFlag: false, cache: true, entryCd: true });
  return choices;
}

export class DmaCommand implements RunCommand {
  constructor(
    readonly write: boolean,
    readonly pick: number,
    readonly offset: number,
    readonly stream: number,
    /** smmu-hw: a software change made at the hardware's `at`-th memory access. */
    readonly interleave: { at: number; change: SoftwareChange } | undefined,
    /** A fixed target instead of a picked one (directed tests). */
    readonly fixedIova?: number,
    /** The target picked in the high region (its 1 GiB block) instead of the low window. */
    readonly high?: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (r.sys.tlb() !== undefined) checkTlb(m.model, r.sys.tlb()!);
    const iova = this.fixedIova ?? pickIova(m.model, this.pick, this.offset, m.lastIova, this.high === true ? HIGH_REGION : LOW_REGION);
    m.lastIova = iova;
    const streamId = r.sys.streams[this.stream % r.sys.streams.length]!;
    const leaf = m.model.leafAt(iova);
    if (this.interleave !== undefined && r.sys.kitPlays === 'driver' && leaf !== undefined) return this.runInterleaved(m, r, iova, streamId, leaf.iova);
    const op = `${this} -> ${hex(iova)}`;
    const got = await recordFailure(
      r,
      m,
      op,
      () => 'a read of freed memory',
      'a translation or a fault',
      () => r.sys.dma(streamId, iova, this.write),
    );
    // A cached entry may have been evicted before the access (IOTLB-11) where the kit cannot
    // see the IOTLB, or sees the implementation's (smmu-hw), which may evict at any time:
    // the entry as the spec has it, or without it.
    const tlb = r.sys.tlb();
    const choices = smmuChoices(r, m.model, iova, this.write, streamId);
    const variants = (implementationMayEvict(r, tlb) && m.model.cachedAt(iova) ? [false, true] : [false]).flatMap((evicted) => choices.map((choice) => ({ evicted, choice })));
    const what = `DMA ${this.write ? 'write' : 'read'} at ${hex(iova)} (stream ${streamId}) gives`;
    const { value: want } = explain(
      m.model,
      variants.map(({ evicted, choice }) => (c: DescriptorModel) => {
        if (evicted) c.evictAt(iova);
        return expectDma(c, iova, this.write, streamId, choice);
      }),
      (c, want) => {
        sameDma(c, got, want, what);
        seenThrough(c, r, tlb);
      },
      { unexplained: (want) => record(r, m, op, dmaText(got), want?.text ?? '(no prediction)') },
    );
    record(r, m, op, dmaText(got), want.text);
    if (this.write) noteWrite(m, iova, want);
    checkState(m, r);
  }

  /** The hardware access races with a software change: either order must match what memory shows. */
  private async runInterleaved(m: RunModel, r: RunReal, iova: number, streamId: number, leafIova: number): Promise<void> {
    const { at, change } = this.interleave!;
    const driverDone: { ok: boolean } = { ok: false };
    const walkClear = m.model.caps.readAndClear.partialLeaf === 'record-from-cursor-clear-whole';
    const apply = (model: DescriptorModel) => {
      if (change === 'unmapLeaf') {
        const l = model.leafAt(leafIova);
        if (l !== undefined) model.unmap(l.iova, l.size);
      } else if (change === 'splitBlock') {
        // The kit's driver splits as its contract does (rfc-2021: BBML1/2 needed, only a writable-dirty block).
        const l = model.leafAt(leafIova);
        if (l !== undefined && model.splitCan() && model.splitApplies(l)) model.split(leafIova);
      } else if (walkClear) model.readAndClearWalk(leafIova, PAGE, false);
      else if (model.trackingOn) model.readAndClearDirty(leafIova, PAGE, false);
    };
    let changed: { iova: number; size: number } | undefined;
    const doChange = () => {
      driverDone.ok = true;
      const l = m.model.leafAt(leafIova)!;
      changed = { iova: l.iova, size: l.size };
      if (change === 'unmapLeaf') return r.sys.unmap(l.iova, l.size);
      if (change === 'splitBlock') return r.sys.splitBlock(leafIova, l.size);
      return r.sys.readAndClearDirty(leafIova, PAGE, 0);
    };
    let pending: Promise<unknown> | undefined;
    const [got] = await r.sys.withHook(
      at,
      () => (pending = doChange()),
      () => r.sys.dma(streamId, iova, this.write),
    );
    const changeResult = pending === undefined ? undefined : await pending;
    // Both orders, and where the implementation's IOTLB may have evicted the entry, without it too (IOTLB-11).
    const tlb = r.sys.tlb();
    const evictions = implementationMayEvict(r, tlb) && m.model.cachedAt(iova) ? [false, true] : [false];
    // The SMMU's choices depend on the leaf the access finds: as it is (the access first), or as the change left it (a clear makes a writable-dirty leaf clean, where a write may fault).
    const choicesFor = (dmaFirst: boolean): readonly SmmuChoice[] => {
      if (dmaFirst) return smmuChoices(r, m.model, iova, this.write, streamId);
      const mark = m.model.ctx.coverageMark();
      const after = m.model.clone();
      apply(after);
      const choices = smmuChoices(r, after, iova, this.write, streamId);
      m.model.ctx.undoCoverage(mark);
      return choices;
    };
    const orders = (driverDone.ok ? [true, false] : [true]).map((dmaFirst) => ({ dmaFirst, choices: choicesFor(dmaFirst) }));
    const attempts = evictions.flatMap((evicted) => orders.flatMap(({ dmaFirst, choices }) => choices.map((choice) => ({ evicted, dmaFirst, choice }))));
    const op = `${this} -> ${hex(iova)}`;
    const explained = () =>
      explain(
        m.model,
        attempts.map(({ evicted, dmaFirst, choice }) => (c: DescriptorModel) => {
          if (evicted) c.evictAt(iova);
          if (!dmaFirst) apply(c);
          const want = expectDma(c, iova, this.write, streamId, choice);
          if (dmaFirst && driverDone.ok) apply(c);
          return want;
        }),
        (c, want) => {
          sameDma(c, got, want, `DMA ${this.write ? 'write' : 'read'} at ${hex(iova)} racing ${change} gives`);
          seenThrough(c, r, tlb);
        },
        { blame: 'last', unexplained: (want) => record(r, m, op, dmaText(got), want?.text ?? '(no prediction)') },
      );
    let explanation: ReturnType<typeof explained>;
    try {
      explanation = explained();
    } catch (e) {
      // The change ran inside the access, neither order explains what memory shows, and memory
      // shows the change undone (the unmapped leaf, or the split block, back in place): the
      // access's update was a store over it, not one atomic step (HTTU-5), besides the rule the
      // order reported from names (UNMAP-1, SPLIT-1).
      if (e instanceof Violation && changed !== undefined && !e.req.includes('HTTU-5') && changeUndone(r, change, changed)) throw new Violation(e.kind, ['HTTU-5', ...e.req], e.expected, e.actual);
      throw e;
    }
    const { value: chosen, index } = explanation;
    record(r, m, op, dmaText(got), 'either order');
    // NOLOSS-2: a write raced the kit's report; the order that explained memory says which report owes it (this one, or a later one the ghost checks).
    if (this.write && change === 'readAndClear' && driverDone.ok && m.ghost.tracking) m.model.ctx.checked.add('NOLOSS-2');
    // The kit (the driver here) consumed what its own change reported: an unmap's pages are
    // gone, a read-and-clear's reported pages are discharged. The racing write counts in the
    // order that explained what memory shows: a write before the change is consumed by it
    // (the report held it), one after it is owed.
    const dmaFirst = attempts[index]!.dmaFirst;
    // First, an ok write went through the leaf the change found (the model, past the change, may hold none there: an unmap took it).
    if (this.write && dmaFirst) noteWrite(m, iova, chosen, chosen.ok);
    if (changed !== undefined && change === 'unmapLeaf') {
      // NOLOSS-3: the kit's unmap returns the dirty state of the leaf it removed. Every page owed
      // there is in it, the racing write's too where the write came first: an SMMU that
      // completes a write whose dirty update lost to the unmap (HTTU-2) leaves it out.
      const removed = changeResult as { dirty: Uint8Array } | undefined;
      if (m.model.caps.unmap.reportsDirty && removed !== undefined && m.ghost.tracking) {
        const reported = PageRuns.fromBitmap(removed.dirty, changed.iova);
        const page = iova - (iova % PAGE);
        if (this.write && dmaFirst && m.ghost.owed.has(page) && !reported.has(page))
          throw new Violation('loss', ['HTTU-2', 'NOLOSS-3'], `page ${hex(page)}, written by the DMA that completed before the unmap took its leaf, in the unmap's dirty bitmap`, `missing: ${reported.text()}`);
        m.ghost.beginReport();
        m.ghost.endReport(changed.iova, changed.size, reported, true, 'any', 'NOLOSS-3');
      }
      m.ghost.forget(changed.iova, changed.size);
    }
    if (changed !== undefined && change === 'readAndClear' && walkClear) {
      // CLEAR-U2: the kit's driver cleared the whole leaf for a one-page report; it consumed the leaf's owed pages (as hazard H-U4 shows).
      const gone = [...m.ghost.owed].filter((p) => p >= changed!.iova && p < changed!.iova + changed!.size);
      m.model.ctx.excuse('CLEAR-U2', gone.length);
      m.ghost.discharge(gone);
    } else if (changed !== undefined && change === 'readAndClear' && m.model.trackingOn && changed.size === PAGE) {
      m.ghost.discharge(dirtyBitmapPages((changeResult as { dirty: Uint8Array }).dirty, changed.iova - (changed.iova % PAGE)));
    }
    if (this.write && !dmaFirst) noteWrite(m, iova, chosen);
  }
  toString = () =>
    `dma${this.write ? 'Write' : 'Read'}(stream #${this.stream}, ${this.fixedIova === undefined ? `pick ${this.pick}${this.high === true ? ' in the high region' : ''}, +${this.offset} pages` : hex(this.fixedIova)}${this.interleave === undefined ? '' : `, ${this.interleave.change} at hardware access ${this.interleave.at}`})`;
}

/**
 * What a DMA write injected into a driver call did, for the stages that depend on it: its
 * outcome (undefined when the hook never fired), and the leaf translating its page as read
 * just before it was made (undefined where an IOTLB entry held the page, or nothing was injected).
 */
interface InjectedRace {
  readonly dma: DmaOutcome | undefined;
  readonly seen: { readonly iova: number; readonly level: Level; readonly pte: bigint } | undefined;
}

/** A driver operation with a DMA write injected at its `at`-th memory access (smmu-driver). */
/**
 * A driver operation with a DMA write injected at one of its memory accesses (smmu-driver).
 * The operation's effect on the model is `stages`, in order (a partial unmap splits, then
 * unmaps); the write may have landed before any stage or after the last, and one of those
 * places must explain what the implementation shows. Returns where it landed: `dmaAt` is
 * the number of stages before it (undefined when nothing was injected).
 */
async function withInjectedWrite<T>(
  m: RunModel,
  r: RunReal,
  inject: { at: number; iova: number; aimed: boolean; after?: boolean } | undefined,
  op: () => Promise<T>,
  stages: ((model: DescriptorModel, result: T) => void) | readonly ((model: DescriptorModel, result: T) => void)[] | { readonly after: (result: T, race: InjectedRace) => readonly ((model: DescriptorModel, result: T) => void)[] },
  check: (model: DescriptorModel, result: T) => void,
): Promise<{ result: T; dma: DmaOutcome | undefined; dmaAt: number | undefined; stages: number }> {
  // The stages as given, or (`after`) as the operation's result and the write decide them: which of a contract's allowed behaviours ran.
  const stagesOf = (result: T, race: InjectedRace) => (typeof stages === 'function' ? [stages] : 'after' in stages ? stages.after(result, race) : stages);
  const streamId = r.sys.streams[0]!;
  if (inject === undefined || r.sys.kitPlays !== 'smmu') {
    const result = await op();
    const steps = stagesOf(result, { dma: undefined, seen: undefined });
    for (const stage of steps) stage(m.model, result);
    check(m.model, result);
    return { result, dma: undefined, dmaAt: undefined, stages: steps.length };
  }
  // Aimed: at the operation's `at`-th access to the descriptor translating the target page now.
  const ttb0 = r.sys.ttb0();
  const target = inject.aimed && ttb0 !== 0 ? walkLeaves((a) => r.sys.memory.load(a), ttb0, inject.iova - (inject.iova % PAGE), PAGE)[0] : undefined;
  const trigger = target === undefined ? inject.at : { address: target.ptep, nth: inject.at, after: inject.after === true };
  // The leaf translating the target page as it is when the write is made, read just before it,
  // where the write must walk to it (no IOTLB entry holds the page: one that does may serve the
  // write whatever the leaf says, which the model's stages do not place exactly).
  let seen: { iova: number; level: Level; pte: bigint } | undefined;
  const [result, dma] = await r.sys.withHook(
    trigger,
    () => {
      const at = r.sys.ttb0();
      const cached = r.sys.tlb()?.some((e) => inject.iova >= e.base && inject.iova < e.base + armLpaeBlockSize(e.level as Level)) ?? true;
      seen = at === 0 || cached ? undefined : walkLeaves((a) => r.sys.memory.load(a), at, inject.iova - (inject.iova % PAGE), PAGE)[0];
      return r.sys.dma(streamId, inject.iova, true);
    },
    op,
  );
  const got = dma === undefined ? undefined : await dma;
  const steps = stagesOf(result, { dma: got, seen });
  // The injected write landed before the operation's effect, between two of its stages, or after it:
  // at a place where the model's leaf is the one the write met (a stage that changed it came
  // before the write, one that had not yet changed it after), if any place is such.
  const all = got === undefined ? [steps.length] : Array.from({ length: steps.length + 1 }, (_, k) => k);
  const asSeen = seen === undefined ? all : all.filter((k) => leafAfter(m.model, steps.slice(0, k), result, seen!));
  const places = asSeen.length > 0 ? asSeen : all;
  // Per place: whether the write went through a stale IOTLB entry there (IOTLB-7: then it is not owed).
  const staleAt: boolean[] = [];
  const { index } = explain(
    m.model,
    places.map((k) => (c: DescriptorModel) => {
      steps.slice(0, k).forEach((stage) => stage(c, result));
      if (got !== undefined) {
        const where = k === 0 ? "before the operation's effect" : k === steps.length ? "after the operation's effect" : `after stage ${k} of the operation`;
        // After the effect, a translation fault without BBML is the break-before-make window (allowed).
        if (!(k === steps.length && got.ok === false && got.fault === 'translation' && m.config.bbml === 0)) {
          const want = expectDma(c, inject.iova, true, streamId);
          staleAt[k] = want.hazard === true;
          sameDma(c, got, want, `DMA write at ${hex(inject.iova)} injected ${where} gives`);
        }
      }
      steps.slice(k).forEach((stage) => stage(c, result));
    }),
    (c) => {
      check(c, result);
      const tlb = r.sys.tlb();
      if (tlb !== undefined) checkTlb(c, tlb);
      r.checker.check(c, r.sys.ttb0());
    },
  );
  if (got !== undefined) noteWrite(m, inject.iova, { text: '', ok: got.ok, ...(staleAt[places[index]!] === true ? { hazard: true } : {}) });
  return { result, dma: got, dmaAt: got === undefined ? undefined : places[index], stages: steps.length };
}

/** Whether, after `stages` (on a copy of `model`), the model's leaf at the place of `seen` is `seen`. */
function leafAfter<T>(model: DescriptorModel, stages: readonly ((model: DescriptorModel, result: T) => void)[], result: T, seen: { iova: number; level: Level; pte: bigint }): boolean {
  const c = model.clone();
  try {
    for (const stage of stages) stage(c, result);
  } catch (e) {
    if (e instanceof Violation) return false;
    throw e;
  }
  return leafAsModelled(c, seen);
}

/**
 * A driver call answering an errno, raced by `inject` (withInjectedWrite with `stages` and
 * `check`); when it fails, the step is recorded with the answer it gave, if any.
 */
function racedCall(
  m: RunModel,
  r: RunReal,
  op: string,
  expected: string,
  inject: { at: number; iova: number; aimed: boolean; after?: boolean } | undefined,
  call: () => Promise<number>,
  stages: Parameters<typeof withInjectedWrite<number>>[4],
  check: (model: DescriptorModel, result: number) => void,
): ReturnType<typeof withInjectedWrite<number>> {
  let answer: number | undefined;
  return recordFailure(
    r,
    m,
    op,
    () => (answer === undefined ? '(no answer)' : errnoName(answer)),
    expected,
    () => withInjectedWrite(m, r, inject, async () => (answer = await call()), stages, check),
  );
}

/** Runs `act`; when it throws a Violation, records the step first, so the trace ends with the failing operation. */
async function recordFailure<T>(r: RunReal, m: RunModel, op: string, answer: () => string, expected: string | (() => string), act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (e) {
    if (e instanceof Violation) record(r, m, op, answer(), typeof expected === 'string' ? expected : expected());
    throw e;
  }
}

export class SplitCommand implements RunCommand {
  constructor(
    readonly pick: number,
    readonly inject: Injection | undefined,
    /** The block picked among the high region's instead of the low window's: its 1 GiB block (even picks) or one of its 2 MiB blocks. */
    readonly high?: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (r.sys.tlb() !== undefined) checkTlb(m.model, r.sys.tlb()!);
    const region = this.high === true ? HIGH_REGION : LOW_REGION;
    // The region's blocks (no leaf that starts before either region reaches into it: see pickIova).
    const blocks = m.model.blocksIn(region.base, region.size);
    if (blocks.length === 0) return;
    const huge = blocks.find((l) => l.level === 1);
    const b = huge !== undefined && this.pick % 2 === 0 ? huge : blocks[this.pick % blocks.length]!;
    // A 2 MiB block of the high region split to pages adds 511 leaves: not past 2,048 pages there.
    if (region === HIGH_REGION && b.level === 2 && m.model.countLeavesIn(HIGH, GiB) - blocks.length >= 2048) return;
    const inject = this.inject === undefined ? undefined : { ...this.inject, iova: b.iova + ((this.inject.offset * PAGE) % b.size) };
    const op = `${this} -> block ${hex(b.iova)} L${b.level}`;
    // The contract's split (SPLIT-R1): it may need BBML1/2 (an errno without), and may leave a block that is not writable-dirty as it is (0).
    const sp = m.model.caps.split;
    const want = m.model.splitCan() || sp?.needsBbml === undefined ? 0 : -ERRNO[sp.needsBbml];
    const { result, dma } = await racedCall(
      m,
      r,
      op,
      errnoName(want),
      inject,
      () => r.sys.splitBlock(b.iova, b.size),
      (model) => {
        // SPLIT-1: the pages carry the block's state. SPLIT-2: with a DMA write racing the
        // split, what the hardware did to the block before the swap is carried too (under
        // rfc-2021 SPLIT-R2, which is also how its pages are filled, so named for every split).
        model.noteRule('SPLIT-1');
        if (inject !== undefined || !model.byMachine) model.noteRule('SPLIT-2');
        // Whether the contract splits it is decided on the block as the split reads it: a DMA write
        // that landed first may have made a writable-clean block writable-dirty (SPLIT-R1).
        const block = model.leafAt(b.iova);
        if (want === 0 && block !== undefined && block.level < 3 && model.splitApplies(block)) model.split(b.iova);
      },
      (model, ret) => {
        if (ret !== want) throw new Violation('spec', [...model.opReq, ...(model.byMachine ? ['SPLIT-1'] : [])], `splitBlock(${hex(b.iova)}) returns ${errnoName(want)}`, errnoName(ret));
      },
    );
    record(r, m, op, `${errnoName(result)}${dma === undefined ? '' : `; injected DMA ${dmaText(dma)}`}`, errnoName(want));
    checkState(m, r);
  }
  toString = () => `splitBlock(pick ${this.pick}${this.high === true ? ' in the high region' : ''}${this.inject === undefined ? '' : `, ${injectionText(this.inject)}`})`;
}

export class MergeCommand implements RunCommand {
  constructor(
    readonly region: number,
    readonly inject: Injection | undefined,
    /**
     * The high region instead of the low window: level 1 merges its 512 2 MiB blocks into its
     * 1 GiB block; level 2 merges the pages of one of its 2 MiB regions (`region` picks among
     * those holding pages).
     */
    readonly high: { readonly level: 1 | 2 } | undefined = undefined,
  ) {}
  check = () => true;
  /** The block's IOVA: a 2 MiB region of the low window, or of the high region that holds pages, or the high region whole. */
  private base(m: RunModel): number {
    if (this.high === undefined) return (this.region % (WINDOW / MiB2)) * MiB2;
    if (this.high.level === 1) return HIGH;
    const bases = [...new Set(leavesOf(m.model, HIGH_REGION).flatMap((l) => (l.level === 3 ? [l.iova - (l.iova % MiB2)] : [])))];
    return bases.length === 0 ? HIGH + (this.region % (GiB / MiB2)) * MiB2 : bases[this.region % bases.length]!;
  }
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (r.sys.tlb() !== undefined) checkTlb(m.model, r.sys.tlb()!);
    const level = this.high?.level ?? 2;
    const span = level === 1 ? GiB : MiB2;
    const base = this.base(m);
    const op = this.text(base);
    const mg = m.model.caps.merge;
    const inRegion = m.model.leavesIn(base, span);
    const can = m.model.mergeCan();
    const mergeable = can && m.model.merge(base, level, true);
    // The contract's answer where it is not strict's (MERGE-R1): an errno without BBML1/2, success over a block, its errno over nothing.
    let want: number | undefined = mergeable ? 0 : undefined;
    if (mg !== undefined && !can && mg.needsBbml !== undefined) want = -ERRNO[mg.needsBbml];
    else if (mg?.ofLeaf === 'success' && inRegion.some((l) => l.size >= span)) want = 0;
    else if (mg !== undefined && inRegion.length === 0 && mg.ofNothing.errno !== 'any') want = -ERRNO[mg.ofNothing.errno];
    // A contract whose merge does not check the pages (the RFC's caller merges only runs it found): the kit does not ask for another merge.
    else if (mg !== undefined && !mg.checksPages && !mergeable) return;
    const wantText = want === undefined ? 'an error' : errnoName(want);
    // A racing write lands in the block: anywhere in a 2 MiB one, in the first 2 MiB of each of a 1 GiB one's children.
    const inject = this.inject === undefined || !mergeable ? undefined : { ...this.inject, iova: base + ((this.inject.offset * (level === 1 ? MiB2 : PAGE)) % span) };
    const { result } = await racedCall(
      m,
      r,
      op,
      wantText,
      inject,
      () => r.sys.mergePages(base, level, span),
      (model) => {
        if (mergeable) model.merge(base, level);
      },
      (model, ret) => {
        if (want === undefined ? ret === 0 : ret !== want) {
          const rules = model.byMachine ? ['MERGE-1', 'MERGE-2'] : ['MERGE-R1'];
          throw new Violation('spec', [...model.opReq, ...rules], `mergePages(${hex(base)}, ${level}) ${want === undefined ? 'fails (the pages cannot merge)' : `returns ${errnoName(want)}`}`, errnoName(ret));
        }
      },
    );
    record(r, m, op, errnoName(result), wantText);
    checkState(m, r);
  }
  /** The call as a trace shows it: at `base` once the run has chosen it (a level-2 merge of the high region picks among the 2 MiB regions holding pages then). */
  private text(base: number | undefined): string {
    const at = this.high === undefined ? hex((this.region % (WINDOW / MiB2)) * MiB2) : this.high.level === 1 ? hex(HIGH) : base === undefined ? `a 2 MiB region of the high region holding pages (pick ${this.region})` : hex(base);
    return `mergePages(${at}, L${this.high?.level ?? 2}${this.inject === undefined ? '' : `, ${injectionText(this.inject)}`})`;
  }
  toString = () => this.text(undefined);
}

export class ReadAndClearCommand implements RunCommand {
  constructor(
    readonly page: number,
    readonly pages: number,
    readonly noClear: boolean,
    /** smmu-driver: a DMA write while the driver reads and clears, to +offset pages of the range. */
    readonly inject: Injection | undefined = undefined,
    /** Instead of page/pages: a range that ends with a mapped leaf (picked) and starts `before` pages ahead of it. */
    readonly endingAt: { pick: number; before: number } | undefined = undefined,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (r.sys.tlb() !== undefined) checkTlb(m.model, r.sys.tlb()!);
    let [iova, size] = range(this.page, this.pages);
    const leaves = this.endingAt === undefined ? [] : leavesOf(m.model, LOW_REGION);
    if (this.endingAt !== undefined && leaves.length > 0) {
      const l = leaves[this.endingAt.pick % leaves.length]!;
      iova = Math.max(0, l.iova - this.endingAt.before * PAGE);
      size = l.iova + l.size - iova;
    }
    const inject = this.inject === undefined ? undefined : { ...this.inject, iova: iova + ((this.inject.offset * PAGE) % size) };
    await readAndClear(m, r, iova, size, this.noClear, `${this}`, inject);
  }
  toString = () =>
    `readAndClearDirty(${this.endingAt === undefined ? `${hex(this.page * PAGE)}, ${this.pages} pages` : `ending with leaf #${this.endingAt.pick}, from ${this.endingAt.before} pages before it`}${this.noClear ? ', IOMMU_DIRTY_NO_CLEAR' : ''}${this.inject === undefined ? '' : `, ${injectionText(this.inject)}`})`;
}

/** The end of the last page holding byte `end - 1`. */
const pageEnd = (end: number) => end + ((PAGE - (end % PAGE)) % PAGE);

/** Pages of [iova, iova + size) whose leaf the model has writable-dirty. */
function dirtyPages(model: DescriptorModel, iova: number, size: number): PageRuns {
  const out = new PageRuns();
  for (const l of model.leavesIn(iova, size)) {
    if (leafStateOf(l.snap).state !== 'writableDirty') continue;
    const from = Math.max(l.iova, iova);
    out.add(from - (from % PAGE), Math.min(l.iova + l.size, pageEnd(iova + size)));
  }
  return out;
}

/**
 * Whether a report that has pages no writable-dirty leaf gives is exactly the pages in range of
 * the leaves with DBM set, or of those with AP[2] clear: the report tested one of the two
 * bits of iopte_writeable_dirty, not both (PTE-5). `expected` are the pages of the leaves that
 * were writable-dirty (the model has cleared them since); the others keep their state.
 */
function reportedByOneBit(model: DescriptorModel, iova: number, size: number, expected: PageRuns, reported: PageRuns): boolean {
  const dbm = expected.copy();
  const writable = expected.copy();
  for (const l of model.leavesIn(iova, size)) {
    const state = leafStateOf(l.snap).state;
    const into = state === 'writableClean' ? dbm : state === 'writable' ? writable : undefined;
    into?.add(Math.max(l.iova, iova - (iova % PAGE)), Math.min(l.iova + l.size, pageEnd(iova + size)));
  }
  return dbm.equals(reported) || writable.equals(reported);
}

/**
 * Where a raced sync read in chunks tore a block's report (`readAndClear.syncChunks`): the
 * first reported page of a block the range cuts when the report holds its pages in range
 * from there on and not those before, and a chunk of the sync starts there. The block is
 * read once per chunk (a page, or 2 MiB inside a cut 1 GiB block), so the write landed
 * between the read of the chunk before and that of this one: the sync is two parts, the write
 * between them, and the model must explain the rest.
 */
function tornAt(model: DescriptorModel, iova: number, size: number, reported: PageRuns): number | undefined {
  const rc = model.caps.readAndClear;
  if (rc.partialLeaf !== 'einval' || rc.syncChunks !== 'iommu-pgsize') return undefined;
  const start = iova - (iova % PAGE);
  const end = pageEnd(iova + size);
  const leaves = model.leavesIn(iova, size);
  for (const l of [leaves[0], leaves[leaves.length - 1]]) {
    if (l === undefined || l.size === PAGE || (l.iova >= iova && l.iova + l.size <= iova + size)) continue;
    const from = Math.max(l.iova, start);
    const to = Math.min(l.iova + l.size, end);
    const got = new PageRuns();
    got.add(from, to);
    const inLeaf = reported.within(got);
    const first = inLeaf.runs()[0];
    if (first === undefined || first[0] === from) continue;
    const tail = new PageRuns();
    tail.add(first[0], to);
    if (inLeaf.equals(tail) && syncChunkStarts(iova, size).has(first[0])) return first[0];
  }
  return undefined;
}

/** Where iommu_sync_dirty_log's chunks over [iova, iova + size) start: each the largest block size (4 KiB, 2 MiB, 1 GiB) the cursor is aligned to and the rest holds (iommu_pgsize). */
function syncChunkStarts(iova: number, size: number): Set<number> {
  const starts = new Set<number>();
  const end = iova + size;
  for (let at = iova - (iova % PAGE); at < end; ) {
    starts.add(at);
    at += ([1, 2] as const).map((l) => armLpaeBlockSize(l)).find((span) => at % span === 0 && end - at >= span) ?? PAGE;
  }
  return starts;
}

/**
 * One reporting call, checked against the spec model (CLEAR-1, CLEAR-4, BITMAP-2) and the
 * ghost (NOLOSS-1, NOLOSS-2, PRECISION-1). With `inject`, a DMA write races the call and
 * either order must explain what the implementation reported and left in memory.
 */
export async function readAndClear(
  m: RunModel,
  r: RunReal,
  iova: number,
  size: number,
  noClear: boolean,
  op: string,
  inject?: { at: number; iova: number; aimed: boolean; after?: boolean },
  after: (m: RunModel) => void = (mm) => checkState(mm, r),
): Promise<void> {
  const tracking = m.model.trackingOn;
  // A contract that walks from a cursor (linux-upstream) reports on or off, and says its own errno (a hole).
  const walk = m.model.caps.readAndClear.partialLeaf !== 'report-in-range-keep-dirty';
  const reports = tracking || m.model.caps.readAndClear.whenTrackingOff === 'reports';
  let want = reports ? 0 : -EINVAL;
  let walked: ReturnType<DescriptorModel['readAndClearWalk']> | undefined;
  let expected = new PageRuns();
  let reported = new PageRuns();
  let answer = '(no answer)';
  // What a contract's walk (or sync-then-clear) expects.
  const expectWalk = (model: DescriptorModel, w: ReadAndClearWalk) => {
    walked = w;
    expected = w.pages;
    want = w.errno;
    // NOLOSS-1 and BITMAP-2 where the walk found pages to report (the ghost reaches NOLOSS-1 by an owed page besides).
    if (w.pages.size > 0) model.note(['BITMAP-2', 'NOLOSS-1']);
  };
  // The call's effect on the model in one stage.
  const whole = (model: DescriptorModel) => {
    if (walk) return expectWalk(model, model.readAndClearWalk(iova, size, noClear));
    expected = tracking ? dirtyPages(model, iova, size) : new PageRuns();
    if (tracking) model.readAndClearDirty(iova, size, noClear);
    // CLEAR-1 comes with the clear of a writable-dirty leaf (the leaf machine's transition), not with every call.
    // BITMAP-2 is at stake where a leaf is to be recorded (an extra bit is PRECISION-1's, named with it below).
    if (expected.size > 0) model.note(['BITMAP-2', 'NOLOSS-1']);
  };
  m.ghost.beginReport();
  try {
    await withInjectedWrite(
      m,
      r,
      inject,
      async () => {
        const got = await r.sys.readAndClearDirty(iova, size, noClear ? IOMMU_DIRTY_NO_CLEAR : 0);
        reported = PageRuns.fromBitmap(got.dirty, iova);
        answer = `${errnoName(got.errno)}, dirty ${reported.text()}`;
        return got.errno;
      },
      {
        // A sync read in chunks (syncChunks) torn by the write: read up to the tear, the write, then the rest and the clear.
        after: () => {
          const tear = inject === undefined ? undefined : tornAt(m.model, iova, size, reported);
          if (tear === undefined) return [whole];
          let sync: SyncInProgress | undefined;
          return [
            (model: DescriptorModel) => {
              const s = model.beginSync(iova, size);
              sync = 'reported' in s ? s : undefined;
              if (sync !== undefined) model.syncPart(sync, iova, tear);
            },
            (model: DescriptorModel) => {
              if (sync === undefined) return whole(model);
              model.syncPart(sync, tear, iova + size);
              expectWalk(model, model.finishSync(sync, noClear));
            },
          ];
        },
      },
      (model, errno) => {
        if (errno !== want) {
          // A wrong errno names the call's rules, as the contract has them, even where it had nothing to report (strict's -EINVAL while off has no ID of its own: docs/CONTRACTS.md, departures, 10).
          for (const id of walk ? ['CLEAR-1', 'CLEAR-4', 'BITMAP-2'] : ['CLEAR-1', 'BITMAP-2']) model.noteRule(id);
          model.note(['NOLOSS-1']);
          throw new Violation('spec', [...model.opReq], `readAndClearDirty returns ${errnoName(want)}`, errnoName(errno));
        }
        const missing = expected.minus(reported);
        // Under a walking contract, the bits Linux's record sets past the leaf or the range (CLEAR-U2) are permitted too.
        const extra = walked === undefined ? reported.minus(expected) : reported.minus(expected).minus(walked.mayAlsoReport);
        if (missing.size > 0) throw new Violation('loss', [...model.opReq], `a report of every page of a writable-dirty leaf in range: ${expected.text()}`, `missing ${missing.text()}`);
        if (extra.size > 0) {
          const oneBit = reportedByOneBit(model, iova, size, expected, reported) ? ['PTE-5'] : [];
          throw new Violation('precision', ['PRECISION-1', 'BITMAP-2', ...oneBit], 'no page outside writable-dirty leaves', `reported ${extra.text()}`);
        }
      },
    );
  } finally {
    record(r, m, op, answer, `${errnoName(want)}, dirty ${expected.text()}`);
  }
  if (!tracking) {
    // A contract that reports while off (CLEAR-U1): nothing is owed, but what it reports is checked and cleared.
    if (reports) after(m);
    return;
  }
  const w = walked;
  // Every reported page was checked against the expected ones above ('any': the ghost need not look again).
  // Only the bits inside the range are the caller's report: a walking contract may set bits past it (CLEAR-U2), which the caller ignores, so they discharge nothing.
  const asked = new PageRuns();
  asked.add(iova - (iova % PAGE), iova + size);
  const inRange = reported.within(asked);
  m.ghost.endReport(iova, size, inRange, !noClear, 'any', 'NOLOSS-1', w === undefined ? undefined : (p) => !w.visited.has(p));
  if (w !== undefined && w.clearedUnreported.size > 0) {
    // CLEAR-U2: a leaf cleared whole, its pages outside what the walk recorded lost by the contract's design (hazards H-U4, H-U5).
    m.model.ctx.excuse('CLEAR-U2', [...m.ghost.owed].filter((p) => w.clearedUnreported.has(p)).length);
    m.ghost.discharge(w.clearedUnreported);
  }
  after(m);
}

/**
 * A DMA write to `page`, then one clearing report over [iova, iova + size) that must hold it
 * (NOLOSS-1), judged on `model`: a copy of the run's model holding leaves the run's own does
 * not (outside the window), with a ghost of its own that owes only this write. `after` checks
 * memory after each step in place of the window's check (which knows only the run's model).
 */
export async function writeThenReport(m: RunModel, r: RunReal, model: DescriptorModel, page: number, iova: number, size: number, after: (m: RunModel) => void): Promise<void> {
  const side: RunModel = { ...m, model, ghost: new DirtyGhost(model.ctx.checked) };
  if (m.ghost.tracking) side.ghost.trackingStarted();
  const streamId = r.sys.streams[0]!;
  model.beginOp();
  const got = await r.sys.dma(streamId, page, true);
  const want = expectDma(model, page, true, streamId);
  record(r, side, `dmaWrite(stream #0, ${hex(page)})`, dmaText(got), want.text);
  sameDma(model, got, want, `DMA write at ${hex(page)} gives`);
  noteWrite(side, page, want);
  after(side);
  model.beginOp();
  await readAndClear(side, r, iova, size, false, `readAndClearDirty(${hex(iova)}, ${hex(size)})`, undefined, after);
}

export class InvalidateCommand implements RunCommand {
  constructor(
    readonly page: number,
    readonly pages: number,
    readonly all: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (r.sys.tlb() !== undefined) checkTlb(m.model, r.sys.tlb()!);
    const [iova, size] = range(this.page, this.pages);
    await r.sys.invalidate(iova, this.all ? 'all' : size);
    if (this.all) m.model.invalidate(0, 2 ** 48);
    else m.model.invalidate(iova, size);
    m.model.note(['IOTLB-9']);
    record(r, m, `${this}`, 'done', 'done');
    checkState(m, r);
  }
  toString = () => (this.all ? 'CMD_TLBI_NH_ASID + CMD_SYNC' : `CMD_TLBI_NH_VA(${hex(this.page * PAGE)}, ${this.pages} pages) + CMD_SYNC`);
}

export class TrackingCommand implements RunCommand {
  constructor(
    readonly enable: boolean,
    /** A DMA write racing the call (smmu-driver, with races): to a block of the low window if there is one, else to a mapped page. */
    readonly inject?: Injection,
  ) {}
  check = () => true;
  /**
   * TRACK-2..TRACK-6. Where the tracking machine decides (strict), its steps (HA/HD, the stale
   * clear, the invalidation, the split or merge of blocks) are the stages a racing DMA write
   * may fall between (withInjectedWrite): a write after the stale clear of an enable is owed
   * by the first report, one before it was cleared with the rest.
   */
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (r.sys.tlb() !== undefined) checkTlb(m.model, r.sys.tlb()!);
    const wasOn = m.model.trackingOn;
    let ret: number;
    let steps: readonly string[];
    if (m.model.byMachine) {
      const staged = m.model.beginSetDirtyTracking(this.enable);
      steps = staged;
      const iova = this.inject === undefined ? undefined : this.target(m);
      const starts = !wasOn && m.model.trackingOn;
      if (starts) m.ghost.trackingStarted();
      const raced = await racedCall(
        m,
        r,
        `${this}`,
        errnoName(m.model.trackingErrno),
        iova === undefined ? undefined : { ...this.inject!, iova },
        () => r.sys.setDirtyTracking(this.enable),
        staged.map((step) => (model: DescriptorModel) => model.trackingStep(step)),
        () => {},
      );
      ret = raced.result;
      const clearAt = staged.indexOf('clearStaleDirty');
      if (starts && iova !== undefined && raced.dmaAt !== undefined && clearAt >= 0 && raced.dmaAt <= clearAt) m.ghost.forget(iova - (iova % PAGE), PAGE);
    } else {
      ret = await r.sys.setDirtyTracking(this.enable);
      steps = m.model.setDirtyTracking(this.enable);
      if (!wasOn && m.model.trackingOn) m.ghost.trackingStarted();
      else if (wasOn && this.enable && steps.includes('clearStaleDirty')) {
        // TRACK-U3: enabling again clears without reporting; what was owed is lost by the contract's design (hazard H-U6).
        m.model.ctx.excuse('TRACK-U3', m.ghost.owed.size);
        m.ghost.trackingStarted();
      }
    }
    const want = m.model.trackingErrno;
    // A domain that cannot track may refuse a disable as it refuses an enable: Linux never
    // reaches the driver there, as iommufd answers -EOPNOTSUPP either way for a domain without
    // dirty_ops (v6.12.117 drivers/iommu/iommufd/io_pagetable.c iopt_set_dirty_tracking).
    const mayRefuse = !this.enable && !wasOn && want === 0 && !m.model.hwDirty;
    const refusalToo = mayRefuse && ret === -EOPNOTSUPP;
    const wanted = `${errnoName(want)}${mayRefuse ? ' or -EOPNOTSUPP (a domain that cannot track)' : ''}`;
    record(r, m, `${this}`, errnoName(ret), `${wanted}${steps.length > 0 ? ` after ${steps.join(', ')}` : ''}`);
    if (ret !== want && !refusalToo) mismatch(m.model, `setDirtyTracking(${this.enable}) returns`, wanted, errnoName(ret));
    if (wasOn && !m.model.trackingOn) m.ghost.trackingStopped();
    checkCds(m, r);
    checkState(m, r);
  }

  /** The page the racing write goes to: in a block of the low window (which enabling may split), else in a mapped leaf; none if nothing is mapped. */
  private target(m: RunModel): number | undefined {
    const blocks = m.model.blocksIn(LOW_REGION.base, LOW_REGION.size);
    const offset = this.inject!.offset * PAGE;
    if (blocks.length > 0) {
      const b = blocks[this.inject!.offset % blocks.length]!;
      return b.iova + (offset % b.size);
    }
    const leaves = m.model.leavesIn(LOW_REGION.base, LOW_REGION.size);
    return leaves.length === 0 ? undefined : leaves[this.inject!.offset % leaves.length]!.iova;
  }

  toString = () => `setDirtyTracking(${this.enable})${this.inject === undefined ? '' : `, ${injectionText(this.inject)}`}`;
}

/** TRACK-2, TRACK-6, TRACK-7: every stream's CD has the HA/HD the spec says. */
function checkCds(m: RunModel, r: RunReal): void {
  for (const cd of r.sys.cds()) {
    const want = m.model.streams.get(cd.streamId) ?? { ha: false, hd: false };
    if (cd.ha !== want.ha || cd.hd !== want.hd) {
      throw new Violation(want.hd ? 'loss' : 'spec', [...m.model.opReq], `stream ${cd.streamId}'s CD with HA=${want.ha ? 1 : 0} HD=${want.hd ? 1 : 0}`, `HA=${cd.ha ? 1 : 0} HD=${cd.hd ? 1 : 0}`);
    }
  }
}

export class AttachCommand implements RunCommand {
  check = (m: Readonly<RunModel>) => m.model.leaves !== undefined;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const streamId = 10 + r.sys.streams.length;
    const ret = await r.sys.attach(streamId);
    m.model.attachStream(streamId);
    record(r, m, `${this} -> stream ${streamId}`, errnoName(ret), '0');
    if (ret !== 0) mismatch(m.model, `attach(${streamId}) returns`, '0', errnoName(ret));
    r.sys.streams.push(streamId);
    checkCds(m, r);
    // smmu-hw, after the kit changed the CDs itself (KitSetCdCommand): the new stream's CD got
    // HA/HD from the kit's driver (TRACK-7) and may differ from the others'. CDs sharing an
    // ASID and tables must have identical HA and HD (ARM IHI 0070 G.b §3.13, §5.4.1): the
    // kit, as the driver, writes the others' into every CD again, so no SMMU is judged on a
    // configuration the architecture leaves undefined.
    const first = m.model.streams.get(r.sys.streams[0]!);
    const added = m.model.streams.get(streamId);
    if (r.sys.kitSetCds !== undefined && first !== undefined && added !== undefined && (first.ha !== added.ha || first.hd !== added.hd)) {
      await r.sys.kitSetCds(first.ha, first.hd);
      for (const id of m.model.streams.keys()) m.model.streams.set(id, { ha: first.ha, hd: first.hd });
    }
  }
  toString = () => 'attach another stream';
}

/**
 * End of a sequence: the device stops and a final report over the window must include
 * everything owed; then one over each run of contiguous leaves of the high region (a
 * contract that stops at a hole, as iommufd reads contiguous areas only, still reads them all).
 */
export async function finalSync(m: RunModel, r: RunReal): Promise<void> {
  if (!m.model.trackingOn) return;
  m.model.beginOp();
  await readAndClear(m, r, 0, WINDOW, false, 'final readAndClearDirty(0, window) after the device stops');
  const runs: [number, number][] = [];
  for (const l of m.model.leavesIn(HIGH, GiB)) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === l.iova) last[1] = l.iova + l.size;
    else runs.push([l.iova, l.iova + l.size]);
  }
  for (const [from, to] of runs) {
    m.model.beginOp();
    await readAndClear(m, r, from, to - from, false, `final readAndClearDirty(${hex(from)}, ${hex(to - from)}) of the high region`);
  }
}
