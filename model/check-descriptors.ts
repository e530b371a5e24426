// Checks an implementation's page table (read from memory) and IOTLB against the
// model's prediction. A leaf dirty in memory but clean in the spec is a false dirty; a
// leaf clean in memory but dirty in the spec has lost dirty state; anything else that
// differs breaks the spec. The requirement named is that of the transitions the model
// took for the operation being checked.
import {
  ARM_LPAE_PTE_AF,
  ARM_LPAE_PTE_AP_RDONLY,
  ARM_LPAE_PTE_DBM,
  ARM_LPAE_PTE_OA_MASK,
  ARM_LPAE_PTE_TYPE_BLOCK,
  ARM_LPAE_PTE_TYPE_MASK,
  ARM_LPAE_PTE_TYPE_PAGE,
  decodeLeaf,
  type LeafState,
} from '../spec/descriptor/encoding.ts';
import { leafStateOf } from '../spec/descriptor/leaf-machine.ts';
import { walkLeaves } from '../spec/descriptor/walk.ts';
import type { DescriptorModel } from './descriptor-model.ts';
import { Violation } from './violation.ts';

const hex = (n: number) => `0x${n.toString(16)}`;

/** The bits that carry a leaf's decoded state: valid, type, AP[2], AF, OA, DBM. */
const STATE_BITS = ARM_LPAE_PTE_TYPE_MASK | ARM_LPAE_PTE_AP_RDONLY | ARM_LPAE_PTE_AF | ARM_LPAE_PTE_OA_MASK | ARM_LPAE_PTE_DBM;

/** What those bits must be for the spec's state of `ml` (DBM and AP[2] per PTE-2). */
function expectedBits(state: LeafState, accessFlag: boolean, oa: number, level: number): bigint {
  let bits = (level === 3 ? ARM_LPAE_PTE_TYPE_PAGE : ARM_LPAE_PTE_TYPE_BLOCK) | (BigInt(oa) & ARM_LPAE_PTE_OA_MASK);
  if (accessFlag) bits |= ARM_LPAE_PTE_AF;
  if (state === 'readOnly' || state === 'writableClean') bits |= ARM_LPAE_PTE_AP_RDONLY;
  if (state === 'writableClean' || state === 'writableDirty') bits |= ARM_LPAE_PTE_DBM;
  return bits;
}

export function checkDescriptors(model: DescriptorModel, load: (address: number) => bigint, ttb0: number, window: number): void {
  const req = () => (model.opReq.size > 0 ? [...model.opReq] : ['PTE-2']);
  let matched = 0;
  for (const l of ttb0 === 0 ? [] : walkLeaves(load, ttb0, 0, window)) {
    const ml = model.leaves.get(`${l.level}:${l.iova}`);
    if (ml !== undefined) {
      const want = leafStateOf(ml.snap);
      if ((l.pte & STATE_BITS) === expectedBits(want.state, want.accessFlag, ml.oa, l.level)) {
        matched++;
        continue;
      }
    }
    // A difference: decode it for the report.
    let got: ReturnType<typeof decodeLeaf>;
    try {
      got = decodeLeaf(l.pte, l.level);
    } catch (e) {
      throw new Violation('spec', ['PTE-2', ...req()], `a leaf descriptor at ${hex(l.iova)} L${l.level}`, `0x${l.pte.toString(16).padStart(16, '0')}: ${(e as Error).message}`);
    }
    const actual = `leaf ${hex(l.iova)} L${l.level} = 0x${l.pte.toString(16).padStart(16, '0')} (${got.state}, AF=${got.accessFlag ? 1 : 0}, OA=${hex(got.outputAddress)})`;
    if (ml === undefined) throw new Violation('spec', req(), `no leaf at ${hex(l.iova)} L${l.level}`, actual);
    const want = leafStateOf(ml.snap);
    const kind = want.state === 'writableClean' && got.state === 'writableDirty' ? 'precision' : want.state === 'writableDirty' && got.state === 'writableClean' ? 'loss' : 'spec';
    throw new Violation(kind, req(), `leaf ${hex(l.iova)} L${l.level} ${want.state}, AF=${want.accessFlag ? 1 : 0}, OA=${hex(ml.oa)}`, actual);
  }
  // Every leaf walked matched a distinct model leaf: any model leaf left over is missing.
  if (matched !== model.leaves.size) {
    const present = new Set((ttb0 === 0 ? [] : walkLeaves(load, ttb0, 0, window)).map((l) => `${l.level}:${l.iova}`));
    for (const [k, ml] of model.leaves) {
      if (!present.has(k)) throw new Violation('spec', req(), `leaf ${hex(ml.iova)} L${ml.level} ${leafStateOf(ml.snap).state}`, 'no such leaf in the page table');
    }
  }
}

/**
 * The implementation's IOTLB may have evicted entries (IOTLB-11) but may hold none the
 * spec has invalidated, and each entry it holds must have the state the spec caches.
 */
export function checkTlb(model: DescriptorModel, entries: readonly { base: number; level: number; state: string }[]): void {
  const real = new Set(entries.map((e) => `${e.level}:${e.base}`));
  for (const e of [...model.tlb.values()]) if (!real.has(`${e.level}:${e.iova}`)) model.evict(e.iova, e.level);
  for (const e of entries) {
    const me = model.tlb.get(`${e.level}:${e.base}`);
    const actual = `IOTLB entry ${hex(e.base)} L${e.level} ${e.state}`;
    if (me === undefined) throw new Violation('loss', ['IOTLB-9', ...model.opReq], `no IOTLB entry for ${hex(e.base)} L${e.level} (invalidated or never cached)`, actual);
    const v = me.snap.value as string | { cached: string } | { staleUnmapped: string };
    if (typeof v === 'object' && 'staleUnmapped' in v) continue;
    const want = typeof v === 'string' ? (v === 'staleDirty' ? 'writableDirty' : v) : v.cached;
    if (want !== e.state) throw new Violation('spec', ['IOTLB-1', ...model.opReq], `IOTLB entry ${hex(e.base)} L${e.level} ${JSON.stringify(v)}`, actual);
  }
}
