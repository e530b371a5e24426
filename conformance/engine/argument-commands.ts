// smmu-driver: the driver's map, unmap, read-and-clear, split and merge called with
// arguments it must refuse (spec/descriptor/arguments.ts: MAP-6..8, UNMAP-2, CLEAR-5,
// SPLIT-3, MERGE-3), one field wrong at a time or two at once where the order of the checks
// decides the errno. Each call is checked for its errno, for reporting nothing, and for
// changing nothing: no leaf in kit memory over the range that the model has not (walked
// directly, also near 2^48, outside what the descriptor checker compares), then the usual
// check of the page table and the IOTLB against the model, which the call did not step.
//
// They are drawn last and run last in a sequence, before its final report (run-profile.ts,
// argumentArbitrary): every earlier draw and step of a seed is the same as without them.
import fc from 'fast-check';
import { ADDRESS_LIMIT, IOMMU_READ, IOMMU_WRITE, mapRefusal, mergeRefusal, readAndClearRefusal, splitRefusal, unmapRefused } from '../../spec/descriptor/arguments.ts';
import { walkLeaves } from '../../spec/descriptor/walk.ts';
import { ERRNO, effectiveRules } from '../../spec/contracts/index.ts';
import type { RequirementId } from '../../spec/requirements.ts';
import { checkDescriptorsIn, checkTlb } from '../../model/check-descriptors.ts';
import { Violation } from '../../model/violation.ts';
import { GiB, MapCommand, MiB2, PAGE, WINDOW, record, type RunCommand, type RunModel, type RunReal, writeThenReport } from './commands.ts';

const hex = (n: number) => `0x${n.toString(16)}`;
/** The span MapAtIovaLimitCommand reports over, ending at 2^48: 8 GiB, a size that does not fit in 32 bits. */
const TOP_REPORT = 8 * 0x4000_0000;
const NAMES = new Map(Object.entries({ ...ERRNO, ERANGE: 34 }).map(([name, value]) => [-value, `-${name}`]));
const errnoText = (e: number) => (e === 0 ? '0' : (NAMES.get(e) ?? String(e)));
const answers = (es: readonly number[]) => es.map(errnoText).join(' or ');

/** Whether the run's contract applies rule `id` (a contract without split drops SPLIT-3, the RFC's drops CLEAR-5). */
function applies(m: RunModel, id: RequirementId): boolean {
  return effectiveRules(m.model.contract).includes(id);
}

/** After the call: no leaf over the range that the model lacks (the part below 2^48), then the whole state as the other commands check it. */
function unchanged(m: RunModel, r: RunReal, req: RequirementId, what: string, iova: number, size: number): void {
  const from = Math.max(0, iova - (iova % PAGE));
  const to = Math.min(iova + Math.max(size, 1), ADDRESS_LIMIT);
  const ttb0 = r.sys.ttb0();
  if (from < to && ttb0 !== 0) {
    const extra = walkLeaves((a) => r.sys.memory.load(a), ttb0, from, to - from).find((l) => m.model.leafAt(l.iova)?.level !== l.level);
    if (extra !== undefined) throw new Violation('spec', [req], `${what} changes nothing`, `a leaf at ${hex(extra.iova)} L${extra.level}`);
  }
  const tlb = r.sys.tlb();
  if (tlb !== undefined) checkTlb(m.model, tlb);
  r.checker.check(m.model, ttb0, true);
}

/** The unmapped runs of the low window, in IOVA order. */
function holes(m: RunModel): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  for (const l of m.model.leavesIn(0, WINDOW)) {
    if (l.iova > at) out.push([at, l.iova]);
    at = Math.max(at, l.iova + l.size);
  }
  if (at < WINDOW) out.push([at, WINDOW]);
  return out;
}

export const MAP_FAULTS = ['iovaUnaligned', 'paddrUnaligned', 'sizeUnaligned', 'sizeZero', 'iovaPast', 'iovaCrosses', 'paddrPast', 'paddrCrosses', 'noProt'] as const;
export type MapFault = (typeof MAP_FAULTS)[number];

/** A map into a hole of the low window with one or two of its fields wrong (MAP-6..8). */
export class MapArgumentsCommand implements RunCommand {
  constructor(
    readonly faults: readonly MapFault[],
    readonly pick: number,
    readonly write: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const hs = holes(m);
    if (hs.length === 0) return;
    const [start, end] = hs[this.pick % hs.length]!;
    let iova = start;
    let size = Math.min(end - start, (1 + (this.pick % 4)) * PAGE);
    let paddr = m.nextPa;
    let prot = this.write ? IOMMU_READ | IOMMU_WRITE : IOMMU_READ;
    for (const f of this.faults) {
      if (f === 'iovaUnaligned') iova += 0x200 * (1 + (this.pick % 7));
      else if (f === 'paddrUnaligned') paddr += 0x800;
      else if (f === 'sizeUnaligned') size += size > PAGE && this.pick % 2 === 0 ? -0x400 : 0x400;
      else if (f === 'sizeZero') size = 0;
      // Past the input address size by exactly 2^48: a driver that masks the index lands in the hole.
      else if (f === 'iovaPast') iova += ADDRESS_LIMIT;
      else if (f === 'iovaCrosses') {
        size = Math.max(size, 2 * PAGE);
        iova = ADDRESS_LIMIT - PAGE * (1 + (this.pick % (size / PAGE - 1)));
      } else if (f === 'paddrPast') paddr += ADDRESS_LIMIT;
      else if (f === 'paddrCrosses') {
        // Crossing 2^48 where the IOVA crosses a 2 MiB boundary (a new last-level table: where Linux checks again, MAP-7).
        const d = MiB2 - (iova % MiB2);
        if (end - iova > d) {
          size = d + PAGE;
          paddr = ADDRESS_LIMIT - d;
        } else paddr += ADDRESS_LIMIT;
      } else prot = 0;
    }
    const refusal = mapRefusal(iova, paddr, size, prot);
    if (refusal === undefined) return;
    const req = refusal.req as RequirementId;
    if (!applies(m, req)) return;
    m.model.note([req]);
    const op = `map(${hex(iova)}, pa ${hex(paddr)}, ${hex(size)}, prot ${prot}) [${this.faults.join(' + ')}]`;
    const ret = await r.sys.map(iova, paddr, size, prot);
    record(r, m, op, errnoText(ret), `${answers(refusal.errnos)}, nothing mapped`);
    if (!refusal.errnos.includes(ret)) throw new Violation('spec', [req], `${op} returns ${answers(refusal.errnos)}`, errnoText(ret));
    unchanged(m, r, req, op, iova, size);
  }
  toString = () => `map with ${this.faults.join(' + ')} (pick ${this.pick}, ${this.write ? 'rw' : 'r'})`;
}

/**
 * The good side of MAP-7's bound: a map into a hole of the low window whose output range ends
 * exactly at 2^48 maps as any other (MapCommand's checks), with MAP-7 named beside its rules.
 */
export class MapAtOutputLimitCommand implements RunCommand {
  constructor(
    readonly page: number,
    readonly pages: number,
    readonly write: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    if (!applies(m, 'MAP-7')) return;
    const hs = holes(m);
    if (hs.length === 0) return;
    const [start, end] = hs[this.page % hs.length]!;
    const pages = Math.min((end - start) / PAGE, this.pages);
    const next = m.nextPa;
    try {
      // Mapped at the top of the output address space: its output range ends at 2^48.
      await new MapCommand(start / PAGE, pages, this.write, true, ADDRESS_LIMIT - pages * PAGE).run(m, r);
    } catch (e) {
      if (e instanceof Violation) throw new Violation(e.kind, [...e.req, 'MAP-7'], `${e.expected} (its output range ending at 2^48, MAP-7)`, e.actual);
      throw e;
    } finally {
      m.nextPa = next + 2 * WINDOW;
    }
    const last = r.trace.at(-1);
    if (last !== undefined) r.trace[r.trace.length - 1] = { ...last, op: `${last.op} [output range ending at 2^48]`, req: [...new Set([...last.req, 'MAP-7'])] };
  }
  toString = () => `map of ${this.pages} pages into a hole with its output range ending at 2^48 (pick ${this.page}, ${this.write ? 'rw' : 'r'})`;
}

/**
 * The good side of MAP-7's input bound: a map of the last pages of the IOVA space, its range
 * ending exactly at 2^48 (iova + size - 1 = 2^48 - 1, inside the 48-bit input address size),
 * maps them as any map does (0; leaves covering exactly the range, each with the bits the
 * model gives a leaf of its level: the block/page choice itself is not judged here), and an unmap of the
 * range removes them again (UNMAP-1). The range lies outside the window the descriptor
 * checker compares, so it is compared here, against a copy of the model, and left empty.
 */
export class MapAtIovaLimitCommand implements RunCommand {
  constructor(
    readonly pages: number,
    readonly write: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    if (!applies(m, 'MAP-7')) return;
    m.model.beginOp();
    const size = this.pages * PAGE;
    const iova = ADDRESS_LIMIT - size;
    // A map of 1 GiB or more at an output address 1 GiB-aligned, so that a driver maps it in 1 GiB blocks (8 leaves for 8 GiB, not 4,096).
    const pa = size >= GiB ? Math.ceil(m.nextPa / GiB) * GiB : m.nextPa;
    m.nextPa = pa + Math.max(size, 2 * WINDOW);
    const prot = this.write ? IOMMU_READ | IOMMU_WRITE : IOMMU_READ;
    m.model.note(['MAP-7']);
    const op = `map(${hex(iova)}, pa ${hex(pa)}, ${hex(size)}, prot ${prot}) [range ending at 2^48]`;
    const ret = await r.sys.map(iova, pa, size, prot);
    const load = (a: number) => r.sys.memory.load(a);
    const ttb0 = r.sys.ttb0();
    const leaves = ret !== 0 || ttb0 === 0 ? [] : walkLeaves(load, ttb0, iova, size);
    const covered = leaves.reduce((a, l) => a + l.size, 0);
    record(r, m, op, `${errnoText(ret)}${ret === 0 ? `, leaves covering ${hex(covered)} bytes` : ''}`, `0, leaves covering ${hex(size)} bytes`);
    if (ret !== 0) throw new Violation('spec', ['MAP-7'], `${op} returns 0 (its last byte, 2^48 - 1, is inside the input address size)`, errnoText(ret));
    const rule = !this.write ? 'MAP-1' : m.model.hdQuirk ? 'MAP-2' : 'MAP-3';
    if (covered !== size || leaves.some((l) => l.iova < iova)) throw new Violation('spec', [rule, 'MAP-7'], `${op} returning 0 maps exactly that range`, `leaves covering ${hex(covered)} bytes`);
    // The leaves as a map makes them (MAP-1..5), on a copy: the model itself never holds a leaf outside the window.
    const copy = m.model.clone();
    copy.map(
      leaves.map((l) => ({ iova: l.iova, level: l.level, oa: pa + (l.iova - iova) })),
      this.write,
    );
    try {
      checkDescriptorsIn(copy, r.sys.memory, ttb0, iova, size);
      // A write to the last page below 2^48 (in the level-0 table's last entry), then a report
      // that must find it: a walk that stops halfway through a table, or keeps an address in
      // 32 bits, loses it. Where the contract skips holes the report spans the 8 GiB below 2^48,
      // a size wider than 32 bits; where a hole is -EINVAL (Linux's walk) it spans the map.
      const [from, span] = m.model.caps.readAndClear.hole === 'skip' ? [ADDRESS_LIMIT - TOP_REPORT, TOP_REPORT] : [iova, size];
      if (this.write) await writeThenReport(m, r, copy, ADDRESS_LIMIT - PAGE, from, span, (s) => checkDescriptorsIn(s.model, r.sys.memory, ttb0, iova, size));
    } catch (e) {
      if (e instanceof Violation) throw new Violation(e.kind, [...e.req, 'MAP-7'], `${e.expected} (a map ending at 2^48)`, e.actual);
      throw e;
    }
    const u = await r.sys.unmap(iova, size);
    const left = ttb0 === 0 ? [] : walkLeaves(load, ttb0, iova, size);
    record(r, m, `unmap(${hex(iova)}, ${hex(size)}) [range ending at 2^48]`, `${hex(u.unmapped)} bytes, ${left.length} leaves left`, `${hex(size)} bytes, no leaf left`);
    if (u.unmapped !== size || left.length > 0)
      throw new Violation('spec', ['UNMAP-1', 'MAP-7'], `unmap(${hex(iova)}, ${hex(size)}) of the range just mapped unmaps ${hex(size)} bytes and leaves no leaf`, `${hex(u.unmapped)} bytes, ${left.length} leaves left`);
    unchanged(m, r, 'MAP-7', op, iova, size);
  }
  toString = () => `map${this.write ? ', write, report' : ''} and unmap the last ${this.pages} pages below 2^48 (${this.write ? 'rw' : 'r'})`;
}

export const UNMAP_FAULTS = ['iovaUnaligned', 'sizeUnaligned', 'sizeZero', 'iovaPast'] as const;
export type UnmapFault = (typeof UNMAP_FAULTS)[number];

/** An unmap aimed at a mapped leaf of the low window with a field wrong (UNMAP-2): 0 bytes, no dirty page, nothing changed. */
export class UnmapArgumentsCommand implements RunCommand {
  constructor(
    readonly fault: UnmapFault,
    readonly pick: number,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    const leaves = m.model.leavesIn(0, WINDOW);
    const l = leaves.length === 0 ? undefined : leaves[this.pick % leaves.length]!;
    let iova = l?.iova ?? (this.pick % (WINDOW / PAGE)) * PAGE;
    let size = Math.min(l?.size ?? PAGE, 4 * PAGE);
    if (this.fault === 'iovaUnaligned') iova += 0x800;
    else if (this.fault === 'sizeUnaligned') size += 0x800;
    else if (this.fault === 'sizeZero') size = 0;
    else iova += ADDRESS_LIMIT;
    if (!unmapRefused(iova, size) || !applies(m, 'UNMAP-2')) return;
    m.model.note(['UNMAP-2']);
    const op = `unmap(${hex(iova)}, ${hex(size)}) [${this.fault}]`;
    const got = await r.sys.unmap(iova, size);
    const dirty = got.dirty.some((b) => b !== 0);
    record(r, m, op, `${hex(got.unmapped)} bytes${dirty ? ', dirty pages' : ''}`, '0 bytes, no dirty page');
    if (got.unmapped !== 0 || dirty) throw new Violation('spec', ['UNMAP-2'], `${op} unmaps 0 bytes and reports no dirty page`, `${hex(got.unmapped)} bytes${dirty ? ', dirty pages reported' : ''}`);
    unchanged(m, r, 'UNMAP-2', op, iova, size);
  }
  toString = () => `unmap with ${this.fault} (pick ${this.pick})`;
}

/** A read-and-clear of size 0, or reaching past 2^48 (CLEAR-5): -EINVAL (or the contract's errno for a domain without dirty ops), nothing reported or cleared. */
export class ReadAndClearArgumentsCommand implements RunCommand {
  constructor(
    readonly fault: 'sizeZero' | 'crosses' | 'past',
    readonly pick: number,
    readonly noClear: boolean,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (!applies(m, 'CLEAR-5')) return;
    const leaves = m.model.leavesIn(0, WINDOW);
    const at = leaves.length === 0 ? 0 : leaves[this.pick % leaves.length]!.iova;
    const [iova, size] = this.fault === 'sizeZero' ? [at, 0] : this.fault === 'past' ? [ADDRESS_LIMIT + at, 2 * PAGE] : [ADDRESS_LIMIT - PAGE * (1 + (this.pick % 3)), 4 * PAGE];
    const refusal = readAndClearRefusal(iova, size);
    if (refusal === undefined) return;
    const own = m.model.caps.readAndClear.withoutHdQuirk;
    const want = own !== undefined && !m.model.hdQuirk ? -ERRNO[own] : refusal;
    m.model.note(['CLEAR-5']);
    const op = `readAndClearDirty(${hex(iova)}, ${hex(size)}${this.noClear ? ', IOMMU_DIRTY_NO_CLEAR' : ''}) [${this.fault}]`;
    const got = await r.sys.readAndClearDirty(iova, size, this.noClear ? 1 : 0);
    const dirty = got.dirty.some((b) => b !== 0);
    record(r, m, op, `${errnoText(got.errno)}${dirty ? ', dirty pages' : ''}`, `${errnoText(want)}, nothing reported`);
    if (got.errno !== want || dirty) throw new Violation('spec', ['CLEAR-5'], `${op} returns ${errnoText(want)} and reports nothing`, `${errnoText(got.errno)}${dirty ? ', dirty pages reported' : ''}`);
    unchanged(m, r, 'CLEAR-5', op, iova, size);
  }
  toString = () => `readAndClearDirty with ${this.fault} (pick ${this.pick}${this.noClear ? ', IOMMU_DIRTY_NO_CLEAR' : ''})`;
}

/** splitBlock where there is no block (SPLIT-3): a hole, a page, or an IOVA 2^48 past a block. */
export class SplitArgumentsCommand implements RunCommand {
  constructor(
    readonly target: 'hole' | 'page' | 'past',
    readonly pick: number,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (!applies(m, 'SPLIT-3') || !m.model.caps.operations.splitBlock) return;
    const leaves = m.model.leavesIn(0, WINDOW);
    let iova: number;
    if (this.target === 'hole') {
      const hs = holes(m);
      if (hs.length === 0) return;
      const [s, e] = hs[this.pick % hs.length]!;
      iova = s + ((this.pick >> 3) % ((e - s) / PAGE)) * PAGE;
    } else {
      const pool = leaves.filter((l) => (this.target === 'page' ? l.level === 3 : l.level < 3));
      if (pool.length === 0) return;
      iova = pool[this.pick % pool.length]!.iova + (this.target === 'past' ? ADDRESS_LIMIT : 0);
    }
    const want = splitRefusal(iova, iova >= ADDRESS_LIMIT ? 2 : m.model.leafAt(iova)?.level);
    if (want === undefined) return;
    m.model.note(['SPLIT-3']);
    const blockSize = this.target === 'page' ? PAGE : MiB2;
    const op = `splitBlock(${hex(iova)}, ${hex(blockSize)}) [${this.target}]`;
    const ret = await r.sys.splitBlock(iova, blockSize);
    record(r, m, op, errnoText(ret), `${errnoText(want)}, nothing changed`);
    if (ret !== want) throw new Violation('spec', ['SPLIT-3'], `${op} returns ${errnoText(want)}`, errnoText(ret));
    unchanged(m, r, 'SPLIT-3', op, iova % ADDRESS_LIMIT, MiB2);
  }
  toString = () => `splitBlock of a ${this.target} (pick ${this.pick})`;
}

/** mergePages where there is no table to merge, or with a bad level or IOVA (MERGE-3). */
export class MergeArgumentsCommand implements RunCommand {
  constructor(
    readonly target: 'hole' | 'block' | 'badLevel' | 'past',
    readonly pick: number,
  ) {}
  check = () => true;
  async run(m: RunModel, r: RunReal): Promise<void> {
    m.model.beginOp();
    if (!applies(m, 'MERGE-3') || !m.model.caps.operations.mergePages) return;
    const bases = Array.from({ length: WINDOW / MiB2 }, (_, i) => i * MiB2);
    const inside = (b: number) => m.model.leavesIn(b, MiB2);
    let base: number | undefined;
    let level = 2;
    if (this.target === 'hole') base = bases.filter((b) => inside(b).length === 0)[this.pick % 4];
    else if (this.target === 'block') base = bases.filter((b) => inside(b).some((l) => l.level === 2))[this.pick % 4];
    else if (this.target === 'past') {
      // 2^48 past a region of pages: a driver that masks the index would merge it.
      const b = bases.filter((x) => inside(x).some((l) => l.level === 3))[this.pick % 4];
      base = b === undefined ? undefined : b + ADDRESS_LIMIT;
    } else {
      base = bases[this.pick % bases.length]!;
      level = [0, 3][this.pick % 2]!;
    }
    if (base === undefined) return;
    const low = base % ADDRESS_LIMIT;
    const there = inside(low).length === 0 ? 'nothing' : inside(low).some((l) => l.level === 2) ? 'block' : 'table';
    const want = mergeRefusal(base, level, there);
    if (want === undefined) return;
    m.model.note(['MERGE-3']);
    const blockSize = level === 0 ? 512 * 0x4000_0000 : level === 3 ? PAGE : MiB2;
    const op = `mergePages(${hex(base)}, L${level}) [${this.target}]`;
    const ret = await r.sys.mergePages(base, level, blockSize);
    record(r, m, op, errnoText(ret), `${answers(want)}, nothing changed`);
    if (!want.includes(ret)) throw new Violation('spec', ['MERGE-3'], `${op} returns ${answers(want)}`, errnoText(ret));
    unchanged(m, r, 'MERGE-3', op, low, MiB2);
  }
  toString = () => `mergePages at a ${this.target} (pick ${this.pick})`;
}

/** One argument command: each kind of call about equally often, each fault of it equally often. */
function argumentCommand(): fc.Arbitrary<RunCommand> {
  const pick = fc.nat(1 << 12);
  const mapFault = fc.constantFrom(...MAP_FAULTS);
  // Two faults in one call where the order of Linux's checks decides the errno (MAP-8: alignment, address size, prot).
  const mapPair = fc.constantFrom<readonly MapFault[]>(['iovaPast', 'iovaUnaligned'], ['paddrPast', 'sizeUnaligned'], ['iovaPast', 'noProt'], ['paddrPast', 'noProt'], ['iovaCrosses', 'noProt'], ['noProt', 'paddrUnaligned']);
  return fc.oneof(
    fc.tuple(mapFault, pick, fc.boolean()).map(([f, p, w]) => new MapArgumentsCommand([f], p, w)),
    fc.tuple(mapPair, pick, fc.boolean()).map(([fs, p, w]) => new MapArgumentsCommand(fs, p, w)),
    // The good side of MAP-7's two bounds, output and input, each half the time (from the same draws).
    // At 2^48, half the 2 MiB maps are 8 GiB instead (by the pick's parity: no draw added), so that
    // a contract whose report stops at a hole (Linux's walk) still reports a size wider than 32 bits.
    fc.tuple(pick, fc.constantFrom(1, 2, 512), fc.boolean()).map(([p, n, w]) => (p < 1 << 11 ? new MapAtOutputLimitCommand(p, n, w) : new MapAtIovaLimitCommand(n === 512 && p % 2 === 1 ? TOP_REPORT / PAGE : n, w))),
    fc.tuple(fc.constantFrom(...UNMAP_FAULTS), pick).map(([f, p]) => new UnmapArgumentsCommand(f, p)),
    fc.tuple(fc.constantFrom<'sizeZero' | 'crosses' | 'past'>('sizeZero', 'crosses', 'past'), pick, fc.boolean()).map(([f, p, nc]) => new ReadAndClearArgumentsCommand(f, p, nc)),
    fc.tuple(fc.constantFrom<'hole' | 'page' | 'past'>('hole', 'page', 'past'), pick).map(([t, p]) => new SplitArgumentsCommand(t, p)),
    fc.tuple(fc.constantFrom<'hole' | 'block' | 'badLevel' | 'past'>('hole', 'block', 'badLevel', 'past'), pick).map(([t, p]) => new MergeArgumentsCommand(t, p)),
  );
}

/**
 * A sequence's argument commands, up to three (none in smmu-hw: the driver there is the kit's).
 * The property's last argument: drawn last and run last, before the final report, so every draw
 * and step of a seed before them is as it was, and a failure the other commands find shrinks
 * through the same candidates (these shrink last, and to nothing when they play no part).
 */
export function argumentArbitrary(kitIsDriver: boolean): fc.Arbitrary<readonly RunCommand[]> {
  return kitIsDriver ? fc.constant([]) : fc.array(argumentCommand(), { minLength: 0, maxLength: 3 });
}
