import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IommuDomain } from '../domain.ts';
import { EOPNOTSUPP } from '../errno.ts';
import { PhysicalMemory, type MemoryAccessKind } from '../memory/physical-memory.ts';
import { IOMMU_READ, IOMMU_WRITE, type LeafInfo } from '../pgtable/io-pgtable-arm.ts';
import { Iotlb } from './iotlb.ts';
import { decodeCd, encodeCd, idr0Httu, idr3Bbml, type Bbml, type Httu } from './registers.ts';
import { Smmu, type DmaResult, type SmmuCommand } from './smmu.ts';

// Real bit positions, written out here rather than imported, so the tests check them.
const TYPE_PAGE = 0b11n;
const TYPE_BLOCK = 0b01n;
const AP_UNPRIV = 1n << 6n;
const AP_RDONLY = 1n << 7n; // AP[2]
const SH_IS = 3n << 8n;
const AF = 1n << 10n;
const NG = 1n << 11n;
/** A bit the architecture leaves to software (bits 58:55; Linux's ARM_LPAE_PTE_SW_SYNC is 55): what software may change beside the hardware's update. */
const SW = 1n << 56n;
const DBM = 1n << 51n;
const CD_V = 1n << 31n;
const CD_HD = 1n << 42n;
const CD_HA = 1n << 43n;

const RW = IOMMU_READ | IOMMU_WRITE;
const SID = 7;
const ASID = 5;
const IOVA = 0x10_0000;
const PA = 0x8000_0000;
const PAGE = 4096;
const IOVA_LIMIT = 2 ** 48;

/** The descriptor Linux writes for a writable 4 KiB page with the HD quirk (writable-dirty). */
const pageDirty = (pa: number): bigint => TYPE_PAGE | NG | AP_UNPRIV | SH_IS | AF | DBM | BigInt(pa);
const pageClean = (pa: number): bigint => pageDirty(pa) | AP_RDONLY;
const pageReadOnly = (pa: number): bigint => TYPE_PAGE | NG | AP_UNPRIV | SH_IS | AF | AP_RDONLY | BigInt(pa);

interface Rig {
  readonly memory: PhysicalMemory;
  readonly smmu: Smmu;
  readonly domain: IommuDomain;
}

function rig(opts: { httu?: Httu; bbml?: Bbml; iotlbCapacity?: number; dirtyCapable?: boolean; asid?: number } = {}): Rig {
  const memory = new PhysicalMemory();
  const smmu = new Smmu(memory, {
    httu: opts.httu ?? 2,
    bbml: opts.bbml ?? 2,
    ...(opts.iotlbCapacity !== undefined ? { iotlbCapacity: opts.iotlbCapacity } : {}),
  });
  const domain = new IommuDomain(smmu, memory, { asid: opts.asid ?? ASID, dirtyCapable: opts.dirtyCapable ?? true, pageGranular: false });
  assert.is(domain.attach(SID), 0);
  return { memory, smmu, domain };
}

/** A rig with one writable page at IOVA -> PA, and tracking on (the leaf writable-clean). */
function trackingRig(opts: { iotlbCapacity?: number } = {}): Rig & { ptep: number } {
  const r = rig(opts);
  assert.is(r.domain.map(IOVA, PA, PAGE, RW), 0);
  assert.is(r.domain.setDirtyTracking(true), 0);
  const ptep = leafAt(r.domain, IOVA).ptep;
  assert.is(r.memory.load(ptep), pageClean(PA));
  return { ...r, ptep };
}

function leafAt(domain: IommuDomain, iova: number): LeafInfo {
  const leaves = [...domain.pgtable.leaves(iova, 1)];
  assert.is(leaves.length, 1, `one leaf at 0x${iova.toString(16)}`);
  return leaves[0]!;
}

function ok(r: DmaResult, pa: number, tlbHit: boolean, level = 3): void {
  assert.equal(r, { ok: true, pa, level, tlbHit });
}

function fault(r: DmaResult, kind: string): void {
  assert.equal(r, { ok: false, fault: kind });
}

/** Records every memory access made while `fn` runs. */
function accesses(memory: PhysicalMemory, fn: () => void): [MemoryAccessKind, number][] {
  const seen: [MemoryAccessKind, number][] = [];
  memory.hook = (kind, address) => seen.push([kind, address]);
  try {
    fn();
  } finally {
    memory.hook = undefined;
  }
  return seen;
}

const tlbiVa = (iova: number, size: number, asid = ASID): SmmuCommand => ({ op: 'CMD_TLBI_NH_VA', asid, iova, size });
const SYNC: SmmuCommand = { op: 'CMD_SYNC' };

// ---------------------------------------------------------------------------------------
// ID registers and context descriptors

test('[TRACK-2] SMMU_IDR0.HTTU is bits 7:6 (with COHACC, bit 4, always set) and SMMU_IDR3.BBML bits 12:11', () => {
  for (const httu of [0, 1, 2] as const) {
    for (const bbml of [0, 1, 2] as const) {
      const smmu = new Smmu(new PhysicalMemory(), { httu, bbml });
      assert.is(smmu.idr0, (httu << 6) | (1 << 4));
      assert.is(smmu.idr3, bbml << 11);
      assert.is(idr0Httu(smmu.idr0), httu);
      assert.is(idr3Bbml(smmu.idr3), bbml);
      assert.is(smmu.httu, httu);
    }
  }
  // Other bits of the registers do not leak into the fields.
  assert.is(idr0Httu(0b1000_0000 | 0b0011_1111 | 0x100), 2);
  assert.is(idr0Httu(0b0100_0000 | 0xffff_ff00 | 0x3f), 1);
  assert.is(idr3Bbml((2 << 11) | 0x7ff | 0x2000), 2);
  assert.is(idr3Bbml((1 << 11) | 0xffff_e000), 1);
});

test('[TRACK-2] an SMMU with an out-of-range HTTU or BBML is rejected', () => {
  assert.throws(() => new Smmu(new PhysicalMemory(), { httu: 3 as Httu, bbml: 0 }), /SMMU_IDR0\.HTTU/);
  assert.throws(() => new Smmu(new PhysicalMemory(), { httu: 0, bbml: 3 as Bbml }), /SMMU_IDR3\.BBML/);
});

test('[TRACK-2] encodeCd puts V at 31, HD at 42, HA at 43, ASID at 63:48 and TTB0 at 51:4', () => {
  const [w0, w1] = encodeCd(0xbeef, 0x4000_3000, true, false);
  assert.is(w0 & CD_V, CD_V);
  assert.is(w0 & CD_HA, CD_HA);
  assert.is(w0 & CD_HD, 0n);
  assert.is(w0 >> 48n, 0xbeefn);
  assert.is(w0 & 0x3fn, 16n); // T0SZ = 64 - 48
  assert.is(w1, 0x4000_3000n);
  const [x0] = encodeCd(1, 0x4000_3000, false, true);
  assert.is(x0 & CD_HA, 0n);
  assert.is(x0 & CD_HD, CD_HD);
  assert.is(x0 >> 48n, 1n);
  // Only bits 51:4 of TTB0 are kept; only 16 bits of ASID.
  assert.is(encodeCd(0, 2 ** 52 + 0x4000_300f, false, false)[1], 0x4000_3000n);
  assert.is(encodeCd(0x1_0002, 0, false, false)[0] >> 48n, 2n);
  assert.is(encodeCd(0, 0x0f_ffff_ffff_fff0, false, false)[1], 0x0f_ffff_ffff_fff0n);
});

test("encodeCd writes the other fields Linux's CD has: 4 KiB TG0, WBWA inner and outer, inner shareable, EPD1, R, A, ASET, AA64, IPS 48 bits", () => {
  const [w0] = encodeCd(7, 0x4000_3000, false, false);
  const field = (lo: bigint, bits: bigint) => (w0 >> lo) & ((1n << bits) - 1n);
  assert.is(field(6n, 2n), 0n, 'TG0 4 KiB');
  assert.is(field(8n, 2n), 1n, 'IRGN0 WBWA');
  assert.is(field(10n, 2n), 1n, 'ORGN0 WBWA');
  assert.is(field(12n, 2n), 3n, 'SH0 inner shareable');
  assert.is(field(14n, 1n), 0n, 'EPD0 clear: TTB0 walks');
  assert.is(field(30n, 1n), 1n, 'EPD1: no TTB1 walk');
  assert.is(field(32n, 3n), 5n, 'IPS 48 bits');
  assert.is(field(41n, 1n), 1n, 'AA64');
  assert.is(field(44n, 1n), 0n, 'S clear: terminate, not stall');
  assert.is(field(45n, 3n), 0b111n, 'R, A, ASET');
});

test('[TRACK-2] decodeCd inverts encodeCd', () => {
  for (const ha of [false, true]) {
    for (const hd of [false, true]) {
      const [w0, w1] = encodeCd(0x1234, 0x7_ffff_f000, ha, hd);
      assert.equal(decodeCd(w0, w1), { valid: true, asid: 0x1234, ttb0: 0x7_ffff_f000, ha, hd, t0sz: 16 });
    }
  }
  assert.is(decodeCd(0n, 0n).valid, false);
  assert.is(decodeCd(CD_V | CD_HA | CD_HD, 0n).ha, true);
});

test('[TRACK-2] attach writes a CD pointing at the page table with HA/HD off; enabling tracking sets both in memory', () => {
  const { memory, domain } = rig();
  const cd = domain.contextDescriptorAddress(SID)!;
  const before = decodeCd(memory.load(cd), memory.load(cd + 8));
  assert.equal(before, { valid: true, asid: ASID, ttb0: domain.pgtable.pgd, ha: false, hd: false, t0sz: 16 });
  assert.is(domain.setDirtyTracking(true), 0);
  const w0 = memory.load(cd);
  assert.is(w0 & (CD_HA | CD_HD), CD_HA | CD_HD);
  assert.is(w0 >> 48n, BigInt(ASID));
});

// ---------------------------------------------------------------------------------------
// Faults

test('[FAULT-1] a DMA to an unmapped IOVA is a translation fault and writes nothing', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  const seen = accesses(memory, () => {
    fault(smmu.dmaRead(SID, IOVA + PAGE), 'translation');
    fault(smmu.dmaWrite(SID, 0x7f_0000_0000), 'translation'); // invalid L1 entry: no L2 table there
  });
  assert.ok(seen.length > 0);
  assert.ok(seen.every(([kind]) => kind === 'load'));
  assert.is(smmu.iotlb.size, 0); // [IOTLB-2] faulting walks are not cached
});

test('[FAULT-1] an IOVA at or above 2^48 is an addressSize fault; an unknown stream is badStream', () => {
  const { smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  fault(smmu.dmaRead(SID, IOVA_LIMIT), 'addressSize');
  fault(smmu.dmaWrite(SID, IOVA_LIMIT + IOVA), 'addressSize');
  fault(smmu.dmaRead(SID, -PAGE), 'addressSize');
  fault(smmu.dmaRead(SID + 1, IOVA), 'badStream');
  assert.is(domain.map(IOVA_LIMIT - PAGE, PA + PAGE, PAGE, RW), 0);
  ok(smmu.dmaRead(SID, IOVA_LIMIT - 1), PA + 2 * PAGE - 1, false); // the last byte below 2^48 translates
});

test('[FAULT-1] a stream whose CD is invalid (V=0) is badStream; after detach the stream is unknown', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  const cd = domain.contextDescriptorAddress(SID)!;
  memory.fetchAnd(cd, ~CD_V);
  smmu.submit([{ op: 'CMD_CFGI_CD', streamId: SID }, SYNC]);
  fault(smmu.dmaRead(SID, IOVA), 'badStream');
  assert.is(domain.detach(SID), 0);
  fault(smmu.dmaRead(SID, IOVA), 'badStream');
});

test('[FAULT-2] a write through a read-only mapping is a permission fault and the descriptor is unchanged', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, IOMMU_READ), 0);
  assert.is(domain.setDirtyTracking(true), 0); // HD on: still no write through DBM=0
  const { ptep } = leafAt(domain, IOVA);
  assert.is(memory.load(ptep), pageReadOnly(PA));
  fault(smmu.dmaWrite(SID, IOVA), 'permission');
  assert.is(memory.load(ptep), pageReadOnly(PA));
  assert.is(smmu.stats.httuUpdates, 0);
  ok(smmu.dmaRead(SID, IOVA + 0x10), PA + 0x10, false);
});

test('[FAULT-2] [IOTLB-6] a write through a cached read-only entry faults without walking', () => {
  const { smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, IOMMU_READ), 0);
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  assert.is(smmu.iotlb.entries()[0]!.state, 'readOnly');
  const walks = smmu.stats.walks;
  fault(smmu.dmaWrite(SID, IOVA), 'permission');
  assert.is(smmu.stats.walks, walks);
});

test('[FAULT-3] with HD=0 in the CD a write through a writable-clean leaf is a permission fault; memory unchanged', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  const { ptep } = leafAt(domain, IOVA);
  assert.is(memory.load(ptep), pageDirty(PA)); // HD quirk: starts writable-dirty
  assert.is(domain.pgtable.readAndClearDirty(0, IOVA_LIMIT, 0), 0); // clean, but tracking (HA/HD) off
  assert.is(memory.load(ptep), pageClean(PA));
  fault(smmu.dmaWrite(SID, IOVA), 'permission');
  assert.is(memory.load(ptep), pageClean(PA));
  assert.is(smmu.stats.httuUpdates, 0);
  assert.is(smmu.iotlb.size, 0);
});

test('[FAULT-3] [IOTLB-6] a write through a cached writable-clean entry with HD=0 faults', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  assert.is(domain.pgtable.readAndClearDirty(0, IOVA_LIMIT, 0), 0);
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  assert.is(smmu.iotlb.entries()[0]!.state, 'writableClean');
  fault(smmu.dmaWrite(SID, IOVA), 'permission');
  assert.is(memory.load(leafAt(domain, IOVA).ptep), pageClean(PA));
});

test('[FAULT-3] [TRACK-1] with SMMU_IDR0.HTTU=1 (access flag only) HD is ineffective even when the CD sets it', () => {
  const { memory, smmu, domain } = rig({ httu: 1 });
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  assert.is(domain.setDirtyTracking(true), -EOPNOTSUPP);
  const cd = domain.contextDescriptorAddress(SID)!;
  memory.fetchOr(cd, CD_HA | CD_HD);
  smmu.submit([{ op: 'CMD_CFGI_CD', streamId: SID }, SYNC]);
  const decoded = decodeCd(memory.load(cd), memory.load(cd + 8));
  assert.is(decoded.ha, true);
  assert.is(decoded.hd, true);
  assert.is(domain.pgtable.readAndClearDirty(0, IOVA_LIMIT, 0), 0);
  const { ptep } = leafAt(domain, IOVA);
  fault(smmu.dmaWrite(SID, IOVA), 'permission');
  assert.is(memory.load(ptep), pageClean(PA));
});

// ---------------------------------------------------------------------------------------
// Access flag

/** Rewrites the leaf at IOVA in memory with AF clear; returns its ptep. */
function clearAf(r: Rig, iova = IOVA): number {
  const { ptep, pte } = leafAt(r.domain, iova);
  r.memory.store(ptep, pte & ~AF);
  r.domain.flushAll();
  return ptep;
}

test('[FAULT-4] with HA=0 a DMA through a leaf with AF=0 is an access flag fault and changes nothing', () => {
  const r = rig();
  assert.is(r.domain.map(IOVA, PA, PAGE, RW), 0);
  const ptep = clearAf(r);
  fault(r.smmu.dmaRead(SID, IOVA), 'accessFlag');
  fault(r.smmu.dmaWrite(SID, IOVA), 'accessFlag');
  assert.is(r.memory.load(ptep), pageDirty(PA) & ~AF);
  assert.is(r.smmu.iotlb.size, 0);
});

test('[FAULT-4] the access flag fault takes priority over a permission fault', () => {
  const r = rig();
  assert.is(r.domain.map(IOVA, PA, PAGE, IOMMU_READ), 0);
  const ptep = clearAf(r);
  fault(r.smmu.dmaWrite(SID, IOVA), 'accessFlag');
  assert.is(r.memory.load(ptep), pageReadOnly(PA) & ~AF);
});

test("[FAULT-4] with SMMU_IDR0.HTTU=0 the CD's HA is ineffective: AF=0 still faults", () => {
  const r = rig({ httu: 0 });
  assert.is(r.domain.map(IOVA, PA, PAGE, RW), 0);
  const ptep = clearAf(r);
  const cd = r.domain.contextDescriptorAddress(SID)!;
  r.memory.fetchOr(cd, CD_HA);
  r.smmu.submit([{ op: 'CMD_CFGI_CD', streamId: SID }, SYNC]);
  fault(r.smmu.dmaRead(SID, IOVA), 'accessFlag');
  assert.is(r.memory.load(ptep) & AF, 0n);
});

test('[HTTU-1] with HA=1 a read through AF=0 sets AF in memory and proceeds; dirty state unchanged', () => {
  const r = trackingRig();
  const ptep = clearAf(r);
  assert.is(r.memory.load(ptep), pageClean(PA) & ~AF);
  ok(r.smmu.dmaRead(SID, IOVA + 0x40), PA + 0x40, false);
  assert.is(r.memory.load(ptep), pageClean(PA));
  assert.is(r.smmu.stats.httuUpdates, 1);
});

test('[HTTU-1] [HTTU-2] with HA=1 HD=1 a write through a clean leaf with AF=0 sets AF and dirty in one update', () => {
  const r = trackingRig();
  const ptep = clearAf(r);
  const seen = accesses(r.memory, () => ok(r.smmu.dmaWrite(SID, IOVA), PA, false));
  assert.is(r.memory.load(ptep), pageDirty(PA));
  assert.is(r.smmu.stats.httuUpdates, 1);
  assert.equal(
    seen.filter(([, a]) => a === ptep).map(([k]) => k),
    ['load', 'compareExchange'],
  );
});

test('[HTTU-1] with SMMU_IDR0.HTTU=1 and HA in the CD, hardware sets AF', () => {
  const r = rig({ httu: 1 });
  assert.is(r.domain.map(IOVA, PA, PAGE, RW), 0);
  const ptep = clearAf(r);
  const cd = r.domain.contextDescriptorAddress(SID)!;
  r.memory.fetchOr(cd, CD_HA);
  r.smmu.submit([{ op: 'CMD_CFGI_CD', streamId: SID }, SYNC]);
  ok(r.smmu.dmaWrite(SID, IOVA), PA, false);
  assert.is(r.memory.load(ptep), pageDirty(PA));
});

test('[HTTU-1] [FAULT-2] a write that takes a permission fault does not set AF', () => {
  const r = rig();
  assert.is(r.domain.map(IOVA, PA, PAGE, IOMMU_READ), 0);
  assert.is(r.domain.setDirtyTracking(true), 0);
  const ptep = clearAf(r);
  fault(r.smmu.dmaWrite(SID, IOVA), 'permission');
  assert.is(r.memory.load(ptep), pageReadOnly(PA) & ~AF);
  assert.is(r.smmu.stats.httuUpdates, 0);
});

test('[HTTU-1] [FAULT-3] a write to a clean leaf with HA=1 but HD ineffective faults and does not set AF', () => {
  const r = rig({ httu: 1 });
  assert.is(r.domain.map(IOVA, PA, PAGE, RW), 0);
  assert.is(r.domain.pgtable.readAndClearDirty(0, IOVA_LIMIT, 0), 0);
  const ptep = clearAf(r);
  const cd = r.domain.contextDescriptorAddress(SID)!;
  r.memory.fetchOr(cd, CD_HA | CD_HD);
  r.smmu.submit([{ op: 'CMD_CFGI_CD', streamId: SID }, SYNC]);
  fault(r.smmu.dmaWrite(SID, IOVA), 'permission');
  assert.is(r.memory.load(ptep), pageClean(PA) & ~AF);
});

// ---------------------------------------------------------------------------------------
// Dirty state (HTTU)

test('[HTTU-2] a write through a writable-clean leaf with HD=1 clears AP[2] in memory and keeps DBM', () => {
  const { memory, smmu, ptep } = trackingRig();
  ok(smmu.dmaWrite(SID, IOVA + 0x123), PA + 0x123, false);
  const pte = memory.load(ptep);
  assert.is(pte & AP_RDONLY, 0n); // AP[2], bit 7, cleared
  assert.is(pte & DBM, DBM); // DBM, bit 51, still set
  assert.is(pte, pageDirty(PA));
  assert.is(smmu.stats.httuUpdates, 1);
  assert.is(smmu.iotlb.entries()[0]!.state, 'writableDirty');
});

test('[HTTU-2] the dirty update is visible to readAndClearDirty as exactly that page', () => {
  const { domain, smmu } = trackingRig();
  assert.is(domain.map(IOVA + PAGE, PA + PAGE, PAGE, RW), 0);
  assert.is(domain.readAndClearDirty(0, IOVA_LIMIT, 0), 0); // the new page is clean too
  ok(smmu.dmaWrite(SID, IOVA + PAGE), PA + PAGE, false);
  const dirty: [number, number][] = [];
  assert.is(
    domain.readAndClearDirty(0, IOVA_LIMIT, 0, (iova, size) => dirty.push([iova, size])),
    0,
  );
  assert.equal(dirty, [[IOVA + PAGE, PAGE]]);
});

test('[HTTU-3] a read through a writable-clean leaf leaves it clean; a read through a dirty leaf leaves it dirty', () => {
  const { memory, smmu, ptep } = trackingRig();
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  assert.is(memory.load(ptep), pageClean(PA));
  assert.is(smmu.stats.httuUpdates, 0);
  assert.is(smmu.iotlb.entries()[0]!.state, 'writableClean');
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  smmu.submit([tlbiVa(IOVA, PAGE), SYNC]);
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  assert.is(memory.load(ptep), pageDirty(PA));
});

test('[HTTU-4] a write through a writable-dirty leaf, or a plain writable one, is performed and changes nothing', () => {
  const dirtyRig = rig(); // HD quirk, tracking off in the CD: starts writable-dirty
  assert.is(dirtyRig.domain.map(IOVA, PA, PAGE, RW), 0);
  ok(dirtyRig.smmu.dmaWrite(SID, IOVA), PA, false);
  assert.is(dirtyRig.memory.load(leafAt(dirtyRig.domain, IOVA).ptep), pageDirty(PA));
  const plain = rig({ dirtyCapable: false });
  assert.is(plain.domain.map(IOVA, PA, PAGE, RW), 0);
  ok(plain.smmu.dmaWrite(SID, IOVA), PA, false);
  assert.is(plain.memory.load(leafAt(plain.domain, IOVA).ptep), TYPE_PAGE | NG | AP_UNPRIV | SH_IS | AF | BigInt(PA));
  assert.is(dirtyRig.smmu.stats.httuUpdates + plain.smmu.stats.httuUpdates, 0);
});

test('[HTTU-5] the HTTU dirty update is a compareExchange at the leaf, never a store', () => {
  const { memory, smmu, ptep } = trackingRig();
  const seen = accesses(memory, () => ok(smmu.dmaWrite(SID, IOVA), PA, false));
  assert.ok(seen.some(([k, a]) => k === 'compareExchange' && a === ptep));
  assert.equal(
    seen.filter(([, a]) => a === ptep).map(([k]) => k),
    ['load', 'compareExchange'],
  );
  assert.ok(!seen.some(([k]) => k === 'store' || k === 'exchange' || k === 'fetchOr' || k === 'fetchAnd'));
  assert.is(memory.load(ptep), pageDirty(PA));
});

/** Installs a hook that runs `change` once, at the first compareExchange at `ptep`. */
function raceAtCas(memory: PhysicalMemory, ptep: number, change: () => void): void {
  let done = false;
  memory.hook = (kind, address) => {
    if (!done && kind === 'compareExchange' && address === ptep) {
      done = true;
      change();
    }
  };
}

test('[HTTU-5] software changing an unrelated bit before the CAS: hardware retries and keeps the change', () => {
  const { memory, smmu, ptep } = trackingRig();
  raceAtCas(memory, ptep, () => memory.fetchOr(ptep, SW));
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  memory.hook = undefined;
  assert.is(memory.load(ptep), pageDirty(PA) | SW);
  assert.is(smmu.stats.casRetries, 1);
  assert.is(smmu.stats.httuUpdates, 1);
});

test("[HTTU-5] [HTTU-1] software setting AF before the hardware's AF+dirty CAS: the retry still clears AP[2]", () => {
  const r = trackingRig();
  const ptep = clearAf(r);
  raceAtCas(r.memory, ptep, () => r.memory.fetchOr(ptep, AF));
  ok(r.smmu.dmaWrite(SID, IOVA), PA, false);
  r.memory.hook = undefined;
  assert.is(r.memory.load(ptep), pageDirty(PA));
  assert.is(r.smmu.stats.casRetries, 1);
  assert.is(r.smmu.stats.httuUpdates, 1);
});

test('[HTTU-5] software making the leaf dirty before the CAS: the retry finds nothing left to do', () => {
  const { memory, smmu, ptep } = trackingRig();
  raceAtCas(memory, ptep, () => memory.fetchAnd(ptep, ~AP_RDONLY));
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  memory.hook = undefined;
  assert.is(memory.load(ptep), pageDirty(PA));
  assert.is(smmu.stats.casRetries, 1);
  assert.is(smmu.stats.httuUpdates, 0);
  assert.is(smmu.iotlb.entries()[0]!.state, 'writableDirty');
});

test('[HTTU-5] [FAULT-2] software revoking write (DBM cleared) before the CAS: the retry faults and keeps the software value', () => {
  const { memory, smmu, ptep } = trackingRig();
  raceAtCas(memory, ptep, () => memory.fetchAnd(ptep, ~DBM));
  fault(smmu.dmaWrite(SID, IOVA), 'permission');
  memory.hook = undefined;
  assert.is(memory.load(ptep), pageReadOnly(PA));
  assert.is(smmu.stats.casRetries, 1);
  assert.is(smmu.stats.httuUpdates, 0);
  assert.is(smmu.iotlb.size, 0);
});

test('[HTTU-5] [FAULT-1] software unmapping the leaf before the CAS: the walk restarts and takes a translation fault', () => {
  const { memory, smmu, ptep } = trackingRig();
  raceAtCas(memory, ptep, () => memory.exchange(ptep, 0n));
  fault(smmu.dmaWrite(SID, IOVA), 'translation');
  memory.hook = undefined;
  assert.is(memory.load(ptep), 0n);
  assert.is(smmu.stats.casRetries, 1);
});

test('[HTTU-5] a CAS that never settles gives up with an error instead of overwriting', () => {
  const { memory, smmu, ptep } = trackingRig();
  memory.hook = (kind, address) => {
    if (kind === 'compareExchange' && address === ptep) memory.store(ptep, memory.load(ptep) ^ SW);
  };
  assert.throws(() => smmu.dmaWrite(SID, IOVA), /did not settle/);
  memory.hook = undefined;
  assert.is(memory.load(ptep) & AP_RDONLY, AP_RDONLY); // never dirtied by a blind write
  assert.is(smmu.stats.casRetries, 64);
});

// ---------------------------------------------------------------------------------------
// IOTLB

test('[IOTLB-1] [IOTLB-3] the second access is an IOTLB hit that neither walks nor touches memory', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  assert.equal(smmu.iotlb.entries(), [{ asid: ASID, base: IOVA, level: 3, size: PAGE, outputBase: PA, state: 'writableDirty' }]);
  const seen = accesses(memory, () => ok(smmu.dmaRead(SID, IOVA + 0xff8), PA + 0xff8, true));
  assert.equal(seen, []);
  assert.is(smmu.stats.walks, 1);
  assert.is(smmu.stats.tlbHits, 1);
});

test('[IOTLB-4] a write through a cached writable-dirty entry does not touch memory', () => {
  const { memory, smmu, ptep } = trackingRig();
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  const seen = accesses(memory, () => ok(smmu.dmaWrite(SID, IOVA + 8), PA + 8, true));
  assert.equal(seen, []);
  assert.is(memory.load(ptep), pageDirty(PA));
  assert.is(smmu.stats.httuUpdates, 1);
});

test('[IOTLB-4] a write through a cached plain writable entry does not touch memory', () => {
  const { memory, smmu, domain } = rig({ dirtyCapable: false });
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  assert.is(smmu.iotlb.entries()[0]!.state, 'writable');
  assert.equal(
    accesses(memory, () => ok(smmu.dmaWrite(SID, IOVA), PA, true)),
    [],
  );
});

test('[IOTLB-5] a write through a cached writable-clean entry re-walks and dirties memory', () => {
  const { memory, smmu, ptep } = trackingRig();
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  assert.is(smmu.iotlb.entries()[0]!.state, 'writableClean');
  const seen = accesses(memory, () => ok(smmu.dmaWrite(SID, IOVA), PA, false));
  assert.ok(seen.some(([k, a]) => k === 'compareExchange' && a === ptep));
  assert.is(memory.load(ptep), pageDirty(PA));
  assert.is(smmu.stats.walks, 2);
  assert.is(smmu.stats.tlbHits, 0);
  assert.equal(
    smmu.iotlb.entries().map((e) => e.state),
    ['writableDirty'],
  );
});

test("[IOTLB-7] HAZARD: clearing a cached writable-dirty leaf without a TLBI loses the next write's dirty state", () => {
  const { memory, smmu, ptep } = trackingRig();
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  assert.is(memory.load(ptep), pageDirty(PA));
  memory.fetchOr(ptep, AP_RDONLY); // software clears dirty, no TLBI
  assert.is(memory.load(ptep), pageClean(PA));
  ok(smmu.dmaWrite(SID, IOVA), PA, true); // the write goes through the stale entry...
  assert.is(memory.load(ptep), pageClean(PA)); // ...and memory still says clean: the dirty is lost
  assert.is(memory.load(ptep) & AP_RDONLY, AP_RDONLY);
});

test('[IOTLB-9] after CMD_TLBI_NH_VA + CMD_SYNC the next write dirties memory again', () => {
  const { memory, smmu, ptep } = trackingRig();
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  memory.fetchOr(ptep, AP_RDONLY);
  ok(smmu.dmaWrite(SID, IOVA), PA, true);
  smmu.submit([tlbiVa(IOVA, PAGE), SYNC]);
  assert.is(smmu.iotlb.size, 0);
  assert.is(smmu.pendingCommands.length, 0);
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  assert.is(memory.load(ptep), pageDirty(PA));
});

test('[IOTLB-9] a TLBI without CMD_SYNC has not taken effect: it is pending and the entry is still used', () => {
  const { memory, smmu, ptep } = trackingRig();
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  memory.fetchOr(ptep, AP_RDONLY);
  const syncs = smmu.stats.syncs;
  smmu.submit([tlbiVa(IOVA, PAGE)]);
  assert.equal(smmu.pendingCommands, [tlbiVa(IOVA, PAGE)]);
  assert.is(smmu.iotlb.size, 1);
  ok(smmu.dmaWrite(SID, IOVA), PA, true);
  assert.is(memory.load(ptep), pageClean(PA));
  smmu.submit([SYNC]);
  assert.equal(smmu.pendingCommands, []);
  assert.is(smmu.stats.syncs, syncs + 1);
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  assert.is(memory.load(ptep), pageDirty(PA));
});

test('[IOTLB-9] CMD_TLBI_NH_VA removes only the entries overlapping its range', () => {
  const { smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, 3 * PAGE, RW), 0);
  for (let i = 0; i < 3; i++) ok(smmu.dmaRead(SID, IOVA + i * PAGE), PA + i * PAGE, false);
  smmu.submit([tlbiVa(IOVA + PAGE, 1), SYNC]);
  assert.equal(
    smmu.iotlb
      .entries()
      .map((e) => e.base)
      .sort(),
    [IOVA, IOVA + 2 * PAGE],
  );
  smmu.submit([tlbiVa(IOVA + PAGE, PAGE, ASID + 1), SYNC]); // another ASID: no effect
  assert.is(smmu.iotlb.size, 2);
});

test('[IOTLB-9] CMD_TLBI_NH_ASID + CMD_SYNC removes every entry of that ASID and only those', () => {
  const memory = new PhysicalMemory();
  const smmu = new Smmu(memory, { httu: 2, bbml: 2 });
  const a = new IommuDomain(smmu, memory, { asid: 5, dirtyCapable: true, pageGranular: false });
  const b = new IommuDomain(smmu, memory, { asid: 6, dirtyCapable: true, pageGranular: false });
  assert.is(a.attach(1), 0);
  assert.is(b.attach(2), 0);
  assert.is(a.map(IOVA, PA, 2 * PAGE, RW), 0);
  assert.is(b.map(IOVA, PA + 0x10_0000, PAGE, RW), 0);
  ok(smmu.dmaRead(1, IOVA), PA, false);
  ok(smmu.dmaRead(1, IOVA + PAGE), PA + PAGE, false);
  ok(smmu.dmaRead(2, IOVA), PA + 0x10_0000, false);
  assert.is(smmu.iotlb.size, 3);
  smmu.submit([{ op: 'CMD_TLBI_NH_ASID', asid: 5 }]);
  assert.is(smmu.iotlb.size, 3); // not yet: no CMD_SYNC
  smmu.submit([SYNC]);
  assert.equal(
    smmu.iotlb.entries().map((e) => [e.asid, e.base]),
    [[6, IOVA]],
  );
  ok(smmu.dmaRead(2, IOVA), PA + 0x10_0000, true);
  ok(smmu.dmaRead(1, IOVA), PA, false);
});

test('[IOTLB-8] HAZARD: a leaf cleared in memory without invalidation still translates through the IOTLB', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  const { ptep } = leafAt(domain, IOVA);
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  memory.store(ptep, 0n); // unmapped behind the SMMU's back
  ok(smmu.dmaRead(SID, IOVA + 0x20), PA + 0x20, true);
  ok(smmu.dmaWrite(SID, IOVA + 0x20), PA + 0x20, true);
  smmu.submit([tlbiVa(IOVA, PAGE), SYNC]);
  fault(smmu.dmaRead(SID, IOVA), 'translation');
});

test('[IOTLB-8] [IOTLB-9] domain.unmap invalidates, so the translation is gone at once', () => {
  const { smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  ok(smmu.dmaRead(SID, IOVA), PA, false);
  assert.is(domain.unmap(IOVA, PAGE), PAGE);
  assert.is(smmu.iotlb.size, 0);
  fault(smmu.dmaWrite(SID, IOVA), 'translation');
});

test('[IOTLB-11] a bounded IOTLB evicts the least recently used entry; the evicted one walks again', () => {
  const { smmu, domain } = rig({ iotlbCapacity: 2 });
  assert.is(domain.map(IOVA, PA, 3 * PAGE, RW), 0);
  const [A, B, C] = [IOVA, IOVA + PAGE, IOVA + 2 * PAGE];
  ok(smmu.dmaRead(SID, A), PA, false);
  ok(smmu.dmaRead(SID, B), PA + PAGE, false);
  ok(smmu.dmaRead(SID, A), PA, true); // A is now the most recently used
  ok(smmu.dmaRead(SID, C), PA + 2 * PAGE, false); // evicts B
  assert.equal(
    smmu.iotlb.entries().map((e) => e.base),
    [A, C],
  );
  ok(smmu.dmaRead(SID, A), PA, true);
  ok(smmu.dmaRead(SID, B), PA + PAGE, false); // B evicted: a walk (evicts C)
  assert.equal(
    smmu.iotlb.entries().map((e) => e.base),
    [A, B],
  );
  assert.is(smmu.stats.walks, 4);
});

test('[IOTLB-11] Iotlb keeps at most `capacity` entries and rejects a non-positive capacity', () => {
  const tlb = new Iotlb(3);
  for (let i = 0; i < 5; i++) tlb.insert({ asid: 1, base: i * PAGE, level: 3, size: PAGE, outputBase: PA + i * PAGE, state: 'writable' });
  assert.is(tlb.size, 3);
  assert.equal(
    tlb.entries().map((e) => e.base),
    [2 * PAGE, 3 * PAGE, 4 * PAGE],
  );
  assert.is(tlb.lookup(1, 0), undefined);
  assert.is(tlb.lookup(1, PAGE + 5), undefined);
  assert.is(tlb.lookup(1, 4 * PAGE + 5)!.outputBase, PA + 4 * PAGE);
  assert.throws(() => new Iotlb(0), /capacity/);
  assert.throws(() => new Iotlb(1.5), /capacity/);
});

test('[IOTLB-11] an evicted clean entry behaves as absent: the next write walks and dirties memory', () => {
  const { memory, smmu, domain } = rig({ iotlbCapacity: 1 });
  assert.is(domain.map(IOVA, PA, 2 * PAGE, RW), 0);
  assert.is(domain.setDirtyTracking(true), 0);
  const { ptep } = leafAt(domain, IOVA);
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  ok(smmu.dmaRead(SID, IOVA + PAGE), PA + PAGE, false); // evicts IOVA's entry
  memory.fetchOr(ptep, AP_RDONLY); // clear without TLBI: safe only because the entry is gone
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  assert.is(memory.load(ptep), pageDirty(PA));
});

// ---------------------------------------------------------------------------------------
// Context descriptor caching

test('[TRACK-2] a CD change is not seen until CMD_CFGI_CD + CMD_SYNC; after it, HD takes effect', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  assert.is(domain.pgtable.readAndClearDirty(0, IOVA_LIMIT, 0), 0);
  const { ptep } = leafAt(domain, IOVA);
  fault(smmu.dmaWrite(SID, IOVA), 'permission'); // loads and caches the CD (HA=HD=0)
  const cd = domain.contextDescriptorAddress(SID)!;
  memory.fetchOr(cd, CD_HA | CD_HD);
  fault(smmu.dmaWrite(SID, IOVA), 'permission'); // still the cached CD
  smmu.submit([{ op: 'CMD_CFGI_CD', streamId: SID }]);
  fault(smmu.dmaWrite(SID, IOVA), 'permission'); // CFGI_CD not complete without CMD_SYNC
  assert.is(memory.load(ptep), pageClean(PA));
  smmu.submit([SYNC]);
  ok(smmu.dmaWrite(SID, IOVA), PA, false);
  assert.is(memory.load(ptep), pageDirty(PA));
});

test('[TRACK-2] a cached CD is used without reading memory; CFGI_CD makes the next DMA reload it', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, 2 * PAGE, RW), 0);
  const cd = domain.contextDescriptorAddress(SID)!;
  const first = accesses(memory, () => ok(smmu.dmaRead(SID, IOVA), PA, false));
  assert.equal(
    first.filter(([, a]) => a === cd || a === cd + 8).map(([k, a]) => [k, a - cd]),
    [
      ['load', 0],
      ['load', 8],
    ],
  );
  const second = accesses(memory, () => ok(smmu.dmaRead(SID, IOVA + PAGE), PA + PAGE, false));
  assert.ok(!second.some(([, a]) => a === cd || a === cd + 8));
  smmu.submit([{ op: 'CMD_CFGI_CD', streamId: SID }, SYNC]);
  const third = accesses(memory, () => ok(smmu.dmaRead(SID, IOVA), PA, true));
  assert.equal(
    third.map(([k, a]) => [k, a - cd]),
    [
      ['load', 0],
      ['load', 8],
    ],
  );
});

// ---------------------------------------------------------------------------------------
// Blocks

test('[PTE-4] a 2 MiB block maps at level 2 with type 0b01 and translates to outputBase + offset', () => {
  const { memory, smmu, domain } = rig();
  const iova = 3 * 0x20_0000;
  const pa = 0x8020_0000;
  assert.is(domain.map(iova, pa, 0x20_0000, RW), 0);
  const leaf = leafAt(domain, iova + 0x12345);
  assert.is(leaf.level, 2);
  assert.is(leaf.size, 0x20_0000);
  assert.is(memory.load(leaf.ptep), TYPE_BLOCK | NG | AP_UNPRIV | SH_IS | AF | DBM | BigInt(pa));
  ok(smmu.dmaRead(SID, iova + 0x12345), pa + 0x12345, false, 2);
  ok(smmu.dmaRead(SID, iova + 0x1f_fff8), pa + 0x1f_fff8, true, 2); // same entry covers the block
  assert.equal(smmu.iotlb.entries(), [{ asid: ASID, base: iova, level: 2, size: 0x20_0000, outputBase: pa, state: 'writableDirty' }]);
});

test('[PTE-4] a 1 GiB block maps at level 1 and translates to outputBase + offset', () => {
  const { smmu, domain } = rig();
  const iova = 0x40_0000_0000;
  const pa = 0x1_4000_0000;
  assert.is(domain.map(iova, pa, 0x4000_0000, IOMMU_READ), 0);
  assert.is(leafAt(domain, iova).level, 1);
  ok(smmu.dmaRead(SID, iova + 0x3abc_d123), pa + 0x3abc_d123, false, 1);
  fault(smmu.dmaWrite(SID, iova), 'permission');
});

test('[PTE-4] [HTTU-2] a write anywhere in a clean 2 MiB block dirties the single block descriptor', () => {
  const { memory, smmu, domain } = rig();
  const iova = 0x20_0000;
  const pa = 0x8000_0000;
  assert.is(domain.map(iova, pa, 0x20_0000, RW), 0);
  assert.is(domain.setDirtyTracking(true), 0);
  const { ptep } = leafAt(domain, iova);
  const clean = TYPE_BLOCK | NG | AP_UNPRIV | SH_IS | AF | DBM | AP_RDONLY | BigInt(pa);
  assert.is(memory.load(ptep), clean);
  ok(smmu.dmaWrite(SID, iova + 0x1f_0000), pa + 0x1f_0000, false, 2);
  assert.is(memory.load(ptep), clean & ~AP_RDONLY);
  const dirty: [number, number][] = [];
  assert.is(
    domain.readAndClearDirty(0, IOVA_LIMIT, 0, (i, s) => dirty.push([i, s])),
    0,
  );
  assert.equal(dirty, [[iova, 0x20_0000]]);
});

test('[PTE-4] a block at L0 is not a valid descriptor: translation fault', () => {
  const { memory, smmu, domain } = rig();
  const l0e = domain.pgtable.pgd + 1 * 8; // L0 index 1: IOVA 512 GiB
  memory.store(l0e, TYPE_BLOCK | AF | BigInt(PA));
  fault(smmu.dmaRead(SID, 0x80_0000_0000), 'translation');
});

// Found by this test and fixed in impl/smmu/smmu.ts: the walk used an L3 entry with type
// 0b01 as a page (ARM DDI 0487 D8.3: reserved at L3).
test('[PTE-4] [FAULT-1] an L3 entry with type 0b01 (reserved) is a translation fault', () => {
  const { memory, smmu, domain } = rig();
  assert.is(domain.map(IOVA, PA, PAGE, RW), 0);
  const { ptep } = leafAt(domain, IOVA);
  memory.store(ptep, (pageDirty(PA) & ~0b11n) | TYPE_BLOCK);
  fault(smmu.dmaRead(SID, IOVA), 'translation');
  fault(smmu.dmaWrite(SID, IOVA), 'translation');
  assert.is(smmu.iotlb.size, 0);
});

test.run();
