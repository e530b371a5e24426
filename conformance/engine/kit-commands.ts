// smmu-hw only: the kit is the driver, so it can also put the hardware in the states a
// faulty or unusual driver would, and check the hardware still does what the spec says
// there: a leaf with AF clear (FAULT-4, HTTU-1), HA without HD (FAULT-3), a clear or an
// unmap left without TLB invalidation (the IOTLB hazards, IOTLB-7, IOTLB-8). The ghost
// treats the kit's own clear as a report, and a write lost through the hazard the kit
// created as not owed.
import { ARM_LPAE_PTE_AP_RDONLY, IOMMU_READ, IOMMU_WRITE, armLpaeProtToPte, iopteWriteableDirty } from '../../spec/descriptor/encoding.ts';
import { walkLeaves } from '../../spec/descriptor/walk.ts';
import { WINDOW, type RunCommand, type RunModel, type RunReal } from './commands.ts';
import type { DescriptorModel } from '../../model/descriptor-model.ts';
import { PageRuns } from '../../model/ghost.ts';

// What the kit's own hazard operations do to the spec model. They are the kit's, not
// the model's: the model has only the events the machines define.

/** The kit replaced the leaf at `iova` with one whose AF is clear: UNMAP, then MAP with AF=0 (MAP-5). */
function replantWithoutAccessFlag(model: DescriptorModel, iova: number): void {
  const old = model.leafAt(iova);
  if (old === undefined) return;
  model.unmap(old.iova, old.size, true);
  model.leafEvent({ ...old, snap: model.ctx.smmu.leaf.initial }, { type: 'MAP', write: old.write, hdQuirk: model.hdQuirk, accessFlag: false });
}

/** The kit cleared a leaf's dirty state without invalidating: CLEAR_DIRTY and SW_CLEAR_DIRTY, no INVALIDATE (IOTLB-7). */
function clearWithoutInvalidate(model: DescriptorModel, iova: number): void {
  const leaf = model.leafAt(iova);
  if (leaf === undefined) return;
  model.leafEvent(leaf, { type: 'CLEAR_DIRTY' });
  model.tlbEventOver(leaf.iova, leaf.size, { type: 'SW_CLEAR_DIRTY' });
}

/** The kit removed a leaf without invalidating: UNMAP and SW_UNMAP (IOTLB-8). */
function unmapWithoutInvalidate(model: DescriptorModel, iova: number): void {
  const leaf = model.leafAt(iova);
  if (leaf === undefined) return;
  model.leafEvent(leaf, { type: 'UNMAP' });
  model.removeLeaf(leaf);
  model.tlbEventOver(leaf.iova, leaf.size, { type: 'SW_UNMAP' });
}

/** The kit made every writable-clean leaf writable-dirty, then invalidated everything (CLEAR-3). */
function markAllDirty(model: DescriptorModel): void {
  for (const leaf of [...model.leaves.values()]) model.leafEvent(leaf, { type: 'SET_DIRTY' });
  model.tlbEventOver(0, 2 ** 48, { type: 'SW_KEEP_STATE' });
  model.invalidate(0, 2 ** 48);
}

const hex = (n: number) => `0x${n.toString(16)}`;

function pickLeaf(m: RunModel, r: RunReal, pick: number) {
  const ttb0 = r.sys.ttb0();
  if (ttb0 === 0) return undefined;
  const leaves = walkLeaves((a) => r.sys.memory.load(a), ttb0, 0, WINDOW);
  if (leaves.length === 0 || m.model.leaves.size === 0) return undefined;
  return leaves[pick % leaves.length];
}

function done(m: RunModel, r: RunReal, op: string): void {
  r.trace.push({ op, answer: 'done', expected: 'done', req: [...m.model.opReq], transitions: [...m.model.opTransitions] });
  r.commands++;
  r.checker.check(m.model, r.sys.ttb0(), true);
}

export class KitClearAccessFlagCommand implements RunCommand {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const leaf = pickLeaf(m, r, this.pick);
    const known = leaf === undefined ? undefined : m.model.leafAt(leaf.iova);
    if (leaf === undefined || known === undefined) return;
    // Break, invalidate, make again as a new mapping with AF clear (MAP-5).
    r.sys.memory.exchange(leaf.ptep, 0n);
    await r.sys.invalidate(leaf.iova, leaf.size);
    const prot = known.write ? IOMMU_READ | IOMMU_WRITE : IOMMU_READ;
    r.sys.memory.store(leaf.ptep, armLpaeProtToPte(prot, leaf.level, known.oa, { hd: m.model.hdQuirk, accessFlag: false }));
    replantWithoutAccessFlag(m.model, leaf.iova);
    m.ghost.forget(leaf.iova, leaf.size);
    done(m, r, `kit: remake leaf ${hex(leaf.iova)} with AF=0`);
  }
  toString = () => `kit: remake a leaf with AF=0 (pick ${this.pick})`;
}

export class KitSetCdCommand implements RunCommand {
  constructor(
    readonly ha: boolean,
    readonly hd: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (r.sys.kitSetCds === undefined) return;
    // The kit is the driver: it sets no CD bit the SMMU does not advertise. CD.HA and CD.HD
    // are RES0 below HTTU 1 and 2 (ARM IHI 0070, the CD's HA and HD fields), and Linux sets
    // them only on an SMMU with ARM_SMMU_FEAT_HD (v6.12.117 arm-smmu-v3.c arm_smmu_make_s1_cd).
    const ha = this.ha && m.model.httu >= 1;
    const hd = this.hd && m.model.httu === 2;
    await r.sys.kitSetCds(ha, hd);
    for (const id of m.model.streams.keys()) m.model.streams.set(id, { ha, hd });
    done(m, r, ha === this.ha && hd === this.hd ? `${this}` : `${this} (written HA=${ha ? 1 : 0} HD=${hd ? 1 : 0}: SMMU_IDR0.HTTU=${m.model.httu})`);
  }
  toString = () => `kit: CDs with HA=${this.ha ? 1 : 0} HD=${this.hd ? 1 : 0}`;
}

export class KitClearWithoutTlbiCommand implements RunCommand {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const leaf = pickLeaf(m, r, this.pick);
    if (leaf === undefined) return;
    // Only a writable-dirty leaf is cleared (CLEAR-1); any other is left as it is (CLEAR-2).
    if (iopteWriteableDirty(leaf.pte)) r.sys.memory.fetchOr(leaf.ptep, ARM_LPAE_PTE_AP_RDONLY);
    clearWithoutInvalidate(m.model, leaf.iova);
    // The kit read the leaf and cleared it: its pages are reported and no longer owed.
    const pages = new PageRuns();
    pages.add(leaf.iova, Math.min(leaf.iova + leaf.size, WINDOW));
    m.ghost.discharge(pages);
    done(m, r, `kit: clear ${hex(leaf.iova)} without TLB invalidation`);
  }
  toString = () => `kit: clear a leaf without TLBI (pick ${this.pick})`;
}

export class KitUnmapWithoutTlbiCommand implements RunCommand {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const leaf = pickLeaf(m, r, this.pick);
    if (leaf === undefined) return;
    r.sys.memory.exchange(leaf.ptep, 0n);
    unmapWithoutInvalidate(m.model, leaf.iova);
    m.ghost.forget(leaf.iova, leaf.size);
    done(m, r, `kit: unmap ${hex(leaf.iova)} without TLB invalidation`);
  }
  toString = () => `kit: unmap a leaf without TLBI (pick ${this.pick})`;
}

/** The kit's driver read-and-clears or marks every leaf dirty regardless of the tracking state (CLEAR-2, CLEAR-3 on any leaf). */
export class KitPgtableCommand implements RunCommand {
  constructor(readonly kind: 'readAndClear' | 'markAllDirty') {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (r.sys.kitPgtable === undefined) return;
    if (this.kind === 'readAndClear') {
      let pages = new PageRuns();
      // The kit's driver walks as its contract does (linux-upstream: from a cursor, stopping at a hole; rfc-2021: sync then clear, only while on).
      const rc = m.model.caps.readAndClear;
      if (rc.partialLeaf !== 'report-in-range-keep-dirty' && rc.whenTrackingOff === 'einval' && !m.model.trackingOn) return;
      const walk = rc.partialLeaf !== 'report-in-range-keep-dirty' ? m.model.readAndClearWalk(0, WINDOW, false) : undefined;
      if (walk !== undefined) pages = walk.pages;
      else for (const l of m.model.readAndClearDirty(0, WINDOW, false)) pages.add(l.iova, l.iova + l.size);
      m.ghost.beginReport();
      await r.sys.kitPgtable.readAndClearDirty(0, WINDOW);
      m.ghost.endReport(0, WINDOW, pages, true, 'any', 'NOLOSS-1', walk === undefined ? undefined : (p) => !walk.visited.has(p));
      if (walk !== undefined) m.ghost.discharge(walk.clearedUnreported);
    } else {
      await r.sys.kitPgtable.markAllWritableDirty();
      markAllDirty(m.model);
    }
    done(m, r, `${this}`);
  }
  toString = () => (this.kind === 'readAndClear' ? 'kit: read-and-clear the window (tracking on or off)' : 'kit: mark every writable leaf dirty + TLBI');
}
