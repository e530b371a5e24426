// A small abstract run of a contract: leaves with their dirty state, IOTLB entries, the
// CDs' HA/HD and the pages owed while tracking, stepped through a scenario as the
// contract's capabilities say each operation behaves. It is what a hazard's scenario
// means (each hazard's test runs it and finds the page missed at the step it names, and
// finds nothing missed under `strict`), and a statement of the contract's behaviour in
// the engine's vocabulary, for the engine to check its predictions against.
//
// It models what the contracts differ in and no more: one 2 MiB block level (no 1 GiB
// blocks), no races (a step is atomic), no eviction, AF always set. A scenario a
// contract's caller would never send (an operation it does not have, a configuration it
// does not accept) throws, naming the step and the rule.
import { ERRNO, type Capabilities, type Contract, type HazardStep } from './types.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;
/** Output addresses: 2 MiB-aligned regions far from the IOVA window, as the engine allocates them. */
const PA_BASE = 0x4000_0000;
const PA_STRIDE = 0x200_0000;

export type SimLeafState = 'readOnly' | 'writable' | 'writableClean' | 'writableDirty';

export interface SimLeaf {
  readonly iova: number;
  readonly size: number;
  readonly oa: number;
  readonly write: boolean;
  state: SimLeafState;
}

export interface SimStep {
  readonly step: number;
  readonly op: HazardStep['op'];
  readonly errno: number;
  /** Pages a report or an unmap returned. */
  readonly reported?: readonly number[];
  /** Bytes an unmap unmapped. */
  readonly unmapped?: number;
  /** A DMA write's outcome. */
  readonly dma?: 'ok' | 'fault';
  /** Pages owed (written while tracking, not yet reported and cleared) that this report or unmap did not return. */
  readonly missed: readonly number[];
}

export interface SimResult {
  readonly steps: readonly SimStep[];
  readonly misses: readonly { readonly atStep: number; readonly pages: readonly number[] }[];
  readonly leaves: readonly SimLeaf[];
  readonly tlb: readonly { readonly iova: number; readonly size: number; readonly state: SimLeafState }[];
  readonly cds: readonly { readonly stream: number; readonly ha: boolean; readonly hd: boolean }[];
  readonly tracking: boolean;
}

export class ScenarioError extends Error {}

const neg = (e: keyof typeof ERRNO) => -ERRNO[e];

class Sim {
  readonly caps: Capabilities;
  httu = 0;
  bbml = 0;
  hdQuirk = false;
  pageGranular = false;
  created = false;
  tracking = false;
  nextPa = PA_BASE;
  leaves: SimLeaf[] = [];
  readonly tlb = new Map<string, { iova: number; size: number; state: SimLeafState }>();
  readonly cds = new Map<number, { ha: boolean; hd: boolean }>();
  readonly owed = new Set<number>();
  splitByEnable: number[] = [];

  /** The step being run, for error messages. */
  at = 0;

  constructor(readonly contract: Contract) {
    this.caps = contract.capabilities;
  }

  fail(what: string): never {
    throw new ScenarioError(`step ${this.at}: ${what} (contract ${this.contract.name})`);
  }

  leafAt(iova: number): SimLeaf | undefined {
    return this.leaves.find((l) => iova >= l.iova && iova < l.iova + l.size);
  }

  leavesIn(iova: number, size: number): SimLeaf[] {
    return this.leaves.filter((l) => l.iova < iova + size && iova < l.iova + l.size).sort((a, b) => a.iova - b.iova);
  }

  drop(leaf: SimLeaf): void {
    this.leaves = this.leaves.filter((l) => l !== leaf);
    this.tlb.delete(`${leaf.iova}:${leaf.size}`);
  }

  newState(write: boolean): SimLeafState {
    return write ? (this.hdQuirk ? 'writableDirty' : 'writable') : 'readOnly';
  }

  hwDirty(): boolean {
    return this.hdQuirk && this.httu === 2;
  }

  cdFor(): { ha: boolean; hd: boolean } {
    const on = this.caps.cdHaHd === 'always' || (this.caps.cdHaHd === 'always-if-hd-quirk' && this.hdQuirk) || (this.caps.cdHaHd === 'while-tracking' && this.tracking);
    return { ha: on, hd: on };
  }

  setAllCds(on: boolean): void {
    for (const id of this.cds.keys()) this.cds.set(id, { ha: on, hd: on });
  }

  clearLeaf(leaf: SimLeaf): boolean {
    if (leaf.state !== 'writableDirty') return false;
    leaf.state = 'writableClean';
    return true;
  }

  splitLeaf(leaf: SimLeaf): void {
    this.drop(leaf);
    for (let i = 0; i < 512; i++) this.leaves.push({ iova: leaf.iova + i * PAGE, size: PAGE, oa: leaf.oa + i * PAGE, write: leaf.write, state: leaf.state });
  }

  /** The 512 pages of the 2 MiB region at `base`, if they form one contiguous, aligned run of equal protection. */
  mergeablePages(base: number): SimLeaf[] | undefined {
    const pages = this.leavesIn(base, MiB2);
    const first = pages[0];
    if (pages.length !== 512 || first === undefined || first.oa % MiB2 !== 0) return undefined;
    return pages.every((p, i) => p.size === PAGE && p.iova === base + i * PAGE && p.oa === first.oa + i * PAGE && p.write === first.write) ? pages : undefined;
  }

  mergeRegion(base: number, pages: SimLeaf[]): void {
    const first = pages[0]!;
    const anyDirty = pages.some((p) => p.state === 'writableDirty');
    const state: SimLeafState = this.caps.merge?.result === 'from-prot' ? this.newState(first.write) : anyDirty ? 'writableDirty' : first.state;
    for (const p of pages) this.drop(p);
    this.leaves.push({ iova: base, size: MiB2, oa: first.oa, write: first.write, state });
  }

  pages(from: number, to: number, lo: number, hi: number, into: Set<number>): void {
    for (let p = Math.max(from, lo); p < Math.min(to, hi); p += PAGE) into.add(p - (p % PAGE));
  }

  missedOf(iova: number, size: number, reported: ReadonlySet<number>): number[] {
    return [...this.owed].filter((p) => p >= iova && p < iova + size && !reported.has(p)).sort((a, b) => a - b);
  }
}

function create(s: Sim, step: Extract<HazardStep, { op: 'create' }>): number {
  const c = s.caps.create;
  if (c.pageGranular === 'never' && step.pageGranular) s.fail('create with pageGranular: the contract has no page-granular policy');
  if (c.pageGranular === 'always' && !step.pageGranular) s.fail('create without pageGranular: the contract always splits while tracking');
  if (c.hdQuirkFrom === 'hardware' && step.dirtyCapable !== (step.httu === 2)) s.fail('create with dirtyCapable other than (HTTU = 2): the hardware decides the HD quirk');
  s.httu = step.httu;
  s.bbml = step.bbml;
  s.pageGranular = step.pageGranular;
  for (const r of c.refuses) if (r.when === 'dirtyCapableWithoutHttu2' && step.dirtyCapable && step.httu !== 2) return neg(r.errno);
  s.hdQuirk = c.hdQuirkFrom === 'config' ? step.dirtyCapable : step.httu === 2;
  s.created = true;
  return 0;
}

function map(s: Sim, step: Extract<HazardStep, { op: 'map' }>): number {
  if (s.leavesIn(step.iova, step.size).length > 0) return neg('EEXIST');
  const pa = s.nextPa + (step.pa === 'page-aligned' ? PAGE : 0);
  s.nextPa += PA_STRIDE;
  for (let off = 0; off < step.size; ) {
    const at = step.iova + off;
    const size = at % MiB2 === 0 && step.size - off >= MiB2 && step.pa === 'block-aligned' ? MiB2 : PAGE;
    s.leaves.push({ iova: at, size, oa: pa + off, write: step.write, state: s.newState(step.write) });
    off += size;
  }
  return 0;
}

function dmaWrite(s: Sim, step: Extract<HazardStep, { op: 'dmaWrite' }>): 'ok' | 'fault' {
  const leaf = s.leafAt(step.iova);
  if (leaf === undefined) return 'fault';
  const cd = s.cds.get(step.stream) ?? s.fail(`DMA from stream ${step.stream}, which is not attached`);
  const hd = cd.ha && cd.hd && s.httu === 2;
  const key = `${leaf.iova}:${leaf.size}`;
  const entry = s.tlb.get(key);
  let ok: boolean;
  if (entry !== undefined) {
    // IOTLB-4: a cached writable-dirty (or plain writable) entry does not touch memory, even if the leaf is clean there now (IOTLB-7).
    if (entry.state === 'writableDirty' || entry.state === 'writable') ok = true;
    else if (entry.state === 'writableClean' && hd) {
      if (leaf.state === 'writableClean') leaf.state = 'writableDirty';
      entry.state = 'writableDirty';
      ok = true;
    } else ok = false;
  } else {
    if (leaf.state === 'readOnly' || (leaf.state === 'writableClean' && !hd)) ok = false;
    else {
      if (leaf.state === 'writableClean') leaf.state = 'writableDirty';
      s.tlb.set(key, { iova: leaf.iova, size: leaf.size, state: leaf.state });
      ok = true;
    }
  }
  if (ok && s.tracking) s.owed.add(step.iova - (step.iova % PAGE));
  return ok ? 'ok' : 'fault';
}

function splitBlocksForTracking(s: Sim): void {
  const policy = s.caps.setDirtyTracking.enable.splits;
  if (!s.pageGranular || policy === 'none') return;
  for (const b of s.leaves.filter((l) => l.size > PAGE)) {
    if (policy === 'writable-dirty-blocks' && b.state !== 'writableDirty' && b.state !== 'writable') continue;
    if (s.caps.split?.needsBbml !== undefined && s.bbml === 0) {
      if (s.caps.setDirtyTracking.enable.ignoresSplitFailure) continue;
      s.fail('enable splits with BBML 0 and does not ignore the failure');
    }
    s.splitLeaf(b);
    s.splitByEnable.push(b.iova);
  }
}

function setDirtyTracking(s: Sim, enable: boolean): number {
  const t = s.caps.setDirtyTracking;
  if (enable) {
    if (!s.hwDirty()) return neg(t.refusal);
    if (s.tracking) {
      if (t.enableWhileOn === 'no-op') return 0;
      if (t.enableWhileOn === 'clears-again') {
        for (const l of s.leaves) s.clearLeaf(l);
        if (t.enable.invalidates) s.tlb.clear();
        return 0;
      }
      return neg(t.enableWhileOn.errno);
    }
    s.tracking = true;
    if (t.enable.setsHaHd) s.setAllCds(true);
    if (t.enable.clearsStale) for (const l of s.leaves) s.clearLeaf(l);
    splitBlocksForTracking(s);
    if (t.enable.invalidates) s.tlb.clear();
    s.owed.clear();
    return 0;
  }
  if (!s.tracking) return t.disableWhileOff === 'no-op' ? 0 : neg(t.disableWhileOff.errno);
  if (s.pageGranular && t.disable.merges === 'what-enable-split') {
    for (const base of s.splitByEnable.reverse()) {
      const pages = s.mergeablePages(base);
      if (pages !== undefined) s.mergeRegion(base, pages);
    }
  } else if (s.pageGranular && t.disable.merges === 'every-contiguous-run' && s.bbml !== 0) {
    const bases = new Set(s.leaves.filter((l) => l.size === PAGE).map((l) => l.iova - (l.iova % MiB2)));
    for (const base of [...bases].sort((a, b) => a - b)) {
      const pages = s.mergeablePages(base);
      if (pages !== undefined) s.mergeRegion(base, pages);
    }
  }
  s.splitByEnable = [];
  if (t.disable.marksWritableDirty) for (const l of s.leaves) if (l.state === 'writableClean') l.state = 'writableDirty';
  if (t.disable.invalidates) s.tlb.clear();
  if (t.disable.clearsHaHd) s.setAllCds(false);
  s.tracking = false;
  s.owed.clear();
  return 0;
}

function readAndClear(s: Sim, step: Extract<HazardStep, { op: 'readAndClearDirty' }>): { errno: number; reported: Set<number> } {
  const rc = s.caps.readAndClear;
  const reported = new Set<number>();
  if (!s.tracking && rc.whenTrackingOff === 'einval') return { errno: neg('EINVAL'), reported };
  if (step.noClear && !rc.noClearFlag) s.fail('read without clearing: the contract has no IOMMU_DIRTY_NO_CLEAR');
  const lo = step.iova;
  const hi = step.iova + step.size;
  const dirty = (l: SimLeaf) => l.state === 'writableDirty' || (rc.reportsPlainWritable && l.state === 'writable');
  const cleared: SimLeaf[] = [];
  let errno = 0;
  if (rc.partialLeaf === 'record-from-cursor-clear-whole') {
    // CLEAR-U2: the walk cursor starts at the range start and advances by each leaf's size.
    for (let cursor = lo; cursor < hi; ) {
      const leaf = s.leafAt(cursor);
      if (leaf === undefined) {
        if (rc.hole === 'einval') {
          errno = neg('EINVAL');
          break;
        }
        cursor += PAGE;
        continue;
      }
      if (dirty(leaf)) {
        s.pages(cursor, cursor + leaf.size, lo, hi, reported);
        if (!step.noClear && s.clearLeaf(leaf)) cleared.push(leaf);
      }
      cursor += leaf.size;
    }
  } else {
    const holes = rc.hole === 'einval' && [...Array(step.size / PAGE).keys()].some((i) => s.leafAt(lo + i * PAGE) === undefined);
    if (holes) return { errno: neg('EINVAL'), reported: new Set() };
    for (const leaf of s.leavesIn(lo, step.size)) {
      if (!dirty(leaf)) continue;
      s.pages(leaf.iova, leaf.iova + leaf.size, lo, hi, reported);
      if (step.noClear) continue;
      const inside = leaf.iova >= lo && leaf.iova + leaf.size <= hi;
      if (inside) {
        if (s.clearLeaf(leaf)) cleared.push(leaf);
      } else if (rc.partialLeaf === 'einval') {
        errno = neg('EINVAL');
        break;
      }
    }
  }
  if (cleared.length > 0 && rc.invalidatesCleared === 'range') for (const l of cleared) s.tlb.delete(`${l.iova}:${l.size}`);
  if (cleared.length > 0 && rc.invalidatesCleared === 'whole-domain') s.tlb.clear();
  return { errno, reported };
}

function unmap(s: Sim, step: Extract<HazardStep, { op: 'unmap' }>): { unmapped: number; reported: Set<number>; removed: Set<number> } {
  const u = s.caps.unmap;
  const lo = step.iova;
  const hi = step.iova + step.size;
  const reported = new Set<number>();
  const removed = new Set<number>();
  let unmapped = 0;
  for (let cursor = lo; cursor < hi; ) {
    const leaf = s.leafAt(cursor);
    if (leaf === undefined) {
      if (u.hole === 'stop') break;
      cursor += PAGE;
      continue;
    }
    if (leaf.iova < lo || leaf.iova + leaf.size > hi) {
      // A contract that allows either is simulated refusing (the behaviour of its newest kernels).
      if (u.partialBlock !== 'split') break;
      s.splitLeaf(leaf);
      continue;
    }
    if (u.reportsDirty && leaf.state === 'writableDirty') s.pages(leaf.iova, leaf.iova + leaf.size, lo, hi, reported);
    s.pages(leaf.iova, leaf.iova + leaf.size, lo, hi, removed);
    s.drop(leaf);
    unmapped += leaf.size;
    cursor = leaf.iova + leaf.size;
  }
  return { unmapped, reported, removed };
}

function splitBlock(s: Sim, iova: number): number {
  const sp = s.caps.split ?? s.fail('splitBlock: the contract has no split operation');
  if (sp.needsBbml !== undefined && s.bbml === 0) return neg(sp.needsBbml);
  const leaf = s.leafAt(iova);
  if (leaf === undefined) return neg('ENOENT');
  if (leaf.size === PAGE) return neg('EINVAL');
  if (sp.applies === 'writable-dirty-blocks' && leaf.state !== 'writableDirty' && leaf.state !== 'writable') return 0;
  s.splitLeaf(leaf);
  return 0;
}

function mergePages(s: Sim, iova: number, level: 1 | 2): number {
  const mg = s.caps.merge ?? s.fail('mergePages: the contract has no merge operation');
  if (level !== 2) s.fail('mergePages at level 1: the simulation has no 1 GiB blocks');
  if (mg.needsBbml !== undefined && s.bbml === 0) return neg(mg.needsBbml);
  const base = iova - (iova % MiB2);
  const inRegion = s.leavesIn(base, MiB2);
  if (inRegion.length === 0) return mg.ofNothing.errno === 'any' ? neg('ENOENT') : neg(mg.ofNothing.errno);
  if (inRegion.some((l) => l.size >= MiB2)) return mg.ofLeaf === 'success' ? 0 : neg('EINVAL');
  const pages = s.mergeablePages(base);
  if (pages === undefined) {
    if (!mg.checksPages) s.fail("mergePages over pages that are not one contiguous run: the contract's caller merges only runs it found with iova_to_phys, so the kit must not send it");
    return neg('EINVAL');
  }
  s.mergeRegion(base, pages);
  // The merge's flush (the strict merge invalidates the region; the RFC flushes the whole IOTLB).
  for (const [key, e] of [...s.tlb]) if (e.iova >= base && e.iova < base + MiB2) s.tlb.delete(key);
  return 0;
}

/** Runs `steps` under `contract`. The first step must be `create`. */
export function simulate(contract: Contract, steps: readonly HazardStep[]): SimResult {
  const out: SimStep[] = [];
  const sim = new Sim(contract);
  for (const [at, step] of steps.entries()) {
    sim.at = at;
    if (at === 0 && step.op !== 'create') sim.fail('a scenario starts with create');
    if (at > 0 && step.op === 'create') sim.fail('create twice');
    if (at > 0 && !sim.created) sim.fail(`${step.op} after a refused create`);
    out.push(runStep(sim, at, step));
  }
  if (steps.length === 0) throw new ScenarioError('an empty scenario');
  return {
    steps: out,
    misses: out.filter((st) => st.missed.length > 0).map((st) => ({ atStep: st.step, pages: st.missed })),
    leaves: [...sim.leaves].sort((a, b) => a.iova - b.iova),
    tlb: [...sim.tlb.values()].sort((a, b) => a.iova - b.iova),
    cds: [...sim.cds].map(([stream, cd]) => ({ stream, ...cd })),
    tracking: sim.tracking,
  };
}

function runStep(sim: Sim, at: number, step: HazardStep): SimStep {
  switch (step.op) {
    case 'create':
      return { step: at, op: step.op, errno: create(sim, step), missed: [] };
    case 'attach':
      sim.cds.set(step.stream, sim.cdFor());
      return { step: at, op: step.op, errno: 0, missed: [] };
    case 'setDirtyTracking':
      return { step: at, op: step.op, errno: setDirtyTracking(sim, step.enable), missed: [] };
    case 'map':
      return { step: at, op: step.op, errno: map(sim, step), missed: [] };
    case 'dmaWrite':
      return { step: at, op: step.op, errno: 0, dma: dmaWrite(sim, step), missed: [] };
    case 'readAndClearDirty': {
      const { errno, reported } = readAndClear(sim, step);
      // A refused call reports nothing the caller may use, so it misses nothing either.
      const missed = errno === 0 && sim.tracking ? sim.missedOf(step.iova, step.size, reported) : [];
      if (errno === 0 && !step.noClear) for (const p of reported) sim.owed.delete(p);
      return { step: at, op: step.op, errno, reported: [...reported].sort((a, b) => a - b), missed };
    }
    case 'unmap': {
      const { unmapped, reported, removed } = unmap(sim, step);
      const missed = [...removed].filter((p) => sim.owed.has(p) && !reported.has(p)).sort((a, b) => a - b);
      for (const p of removed) sim.owed.delete(p);
      return { step: at, op: step.op, errno: 0, unmapped, reported: [...reported].sort((a, b) => a - b), missed };
    }
    case 'splitBlock':
      return { step: at, op: step.op, errno: splitBlock(sim, step.iova), missed: [] };
    case 'mergePages':
      return { step: at, op: step.op, errno: mergePages(sim, step.iova, step.level), missed: [] };
  }
}
