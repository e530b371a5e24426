// An outside trial's port of KVM's dirty ring with x86 PML, following Linux v6.12.117
// arch/x86/kvm/vmx/vmx.c (vmx_flush_pml_buffer at the head of __vmx_handle_exit for every
// VM exit, the 512-entry log written from index 511 down, flushed newest first), x86.c
// (vcpu_enter_guest: kvm_dirty_ring_check_request before each entry; __kvm_emulate_halt
// with a userspace LAPIC: KVM_EXIT_HLT, the request left pending), mmu (first write to an
// unmapped page: EPT violation, make_spte with D set, mark_page_dirty_in_slot; reset with PML:
// kvm_mmu_clear_dirty_pt_masked clears D, the next write is logged by the CPU, no exit).
// Env: DIRTYSPEC_PML=1, DIRTYSPEC_PML_SIZE=N (512), DIRTYSPEC_PML_ORDER=newest (v6.12,
// default) | oldest (v6.14+ "KVM: VMX: read the PML log in the same order as it was written").
//
// A port of Linux v6.12.117 virt/kvm/dirty_ring.c (whole), with the parts of
// virt/kvm/kvm_main.c, arch/x86/kvm and arch/arm64/kvm/mmu.c that the kvm-dirty-ring
// profile drives, as an outside KVM developer would write it for `dirtyspec run --adapter`.
// Written from /tmp/lsrc/linux-source-6.12 only (not from the kit's reference).
//
// Variants (for historical bugs / regressions) are selected by DIRTYSPEC_VARIANT=<name>
// in the environment; see VARIANTS below. No variant: v6.12.117 as released.
import type { KitRingMemory, KvmDirtyRingAdapter, KvmDirtyRingInstance } from 'dirtyspec/adapters';

let VARIANT = process.env.DIRTYSPEC_VARIANT ?? '';
/** DIRTYSPEC_PML=1: an Intel host with PML on (VMX's default): kvm_cpu_dirty_log_size() = 512, EPT D bits, PML buffer flushed at every VM exit. */
let PML = process.env.DIRTYSPEC_PML === '1';
/** DIRTYSPEC_PML_SIZE: the CPU log's size (512 on Intel PML). */
let PML_ENTRIES = Number(process.env.DIRTYSPEC_PML_SIZE ?? 512);
/** The order vmx_flush_pml_buffer pushes a batch in: v6.12 from GUEST_PML_INDEX + 1 up to 511, i.e. newest first. */
let PML_NEWEST_FIRST = (process.env.DIRTYSPEC_PML_ORDER ?? 'newest') === 'newest';
/** DIRTYSPEC_VARIANT_X86_ONLY=1: the variant's fault is there on x86 only (the arm64 VM is v6.12.117 as released). */
let currentArch: 'x86' | 'arm64' = 'x86';
let X86_ONLY = process.env.DIRTYSPEC_VARIANT_X86_ONLY === '1';
const V = (n: string) => VARIANT.split(',').includes(n) && (!X86_ONLY || currentArch === 'x86');

const EINVAL = 22,
  ENOENT = 2,
  ENXIO = 6,
  E2BIG = 7;
const KVM_CAP_DIRTY_LOG_RING = 192,
  KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223,
  KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP = 225;
const KVM_EXIT_HLT = 5,
  KVM_EXIT_DIRTY_RING_FULL = 31;
const KVM_DIRTY_GFN_F_DIRTY = 1,
  KVM_DIRTY_GFN_F_RESET = 2;
const KVM_DIRTY_RING_RSVD_ENTRIES = 64; // include/linux/kvm_dirty_ring.h
const KVM_DIRTY_RING_MAX_ENTRIES = 65536; // include/uapi/linux/kvm.h
const SIZEOF_GFN = 16,
  PAGE_SIZE = 4096,
  BITS_PER_LONG = 64n;
const U64 = (1n << 64n) - 1n;
const KVM_DIRTY_LOG_PAGE_OFFSET = 64; // x86, arm64

const u64 = (x: bigint) => BigInt.asUintN(64, x);
const s64 = (x: bigint) => BigInt.asIntN(64, x);
const u32 = (x: number) => x >>> 0;
const __fls = (m: bigint) => BigInt(m.toString(2).length - 1);
const __ffs = (m: bigint) => BigInt((m & -m).toString(2).length - 1);

interface Memslot {
  as_id: number;
  id: number;
  base_gfn: bigint;
  npages: bigint;
  flags: number; // KVM_MEM_LOG_DIRTY_PAGES = 1
  dirty_bitmap: BigUint64Array | null;
}

interface DirtyRing {
  dirty_index: number; // u32
  reset_index: number; // u32
  size: number; // entries
  soft_limit: number;
  base: number; // dirty_gfns (kit memory)
}

interface Vcpu {
  pmlBuf: { slot: Memslot; gfn: bigint }[];
  dirty_ring: DirtyRing;
  softFullRequest: boolean; // KVM_REQ_DIRTY_RING_SOFT_FULL
}

class Kvm {
  dirty_ring_size = 0;
  dirty_ring_with_bitmap = false;
  created_vcpus = 0;
  vcpus: Vcpu[] = [];
  memslots: Map<number, Memslot>[];
  /** Stand-in for the SPTEs / stage-2 PTEs: writable gfns (absent: write-protected or unmapped -> next write faults). */
  writable = new Set<bigint>();
  /** The vCPUs' TLBs (one set): gfns with a cached writable translation; kvm_flush_remote_tlbs empties it. */
  tlb = new Set<bigint>();
  nextBaseGfn = 0n;

  constructor(
    readonly mem: KitRingMemory,
    readonly arch: 'x86' | 'arm64',
  ) {
    this.memslots = Array.from({ length: this.nrAsIds() }, () => new Map());
  }

  // kvm_arch_nr_memslot_as_ids: x86 with SMM 2, arm64 1
  nrAsIds() {
    return this.arch === 'x86' ? 2 : 1;
  }
  // include/linux/kvm_host.h: KVM_MEM_SLOTS_NUM SHRT_MAX - KVM_INTERNAL_MEM_SLOTS (x86 3, arm64 0)
  get KVM_USER_MEM_SLOTS() {
    return this.arch === 'x86' ? 32764 : 32767;
  }
  // kvm_cpu_dirty_log_size: no PML
  kvm_dirty_ring_get_rsvd_entries() {
    return KVM_DIRTY_RING_RSVD_ENTRIES + (PML && this.arch === 'x86' ? PML_ENTRIES : 0);
  }
  pml() {
    return PML && this.arch === 'x86';
  }
  /** PML: writable gfns whose EPT D bit is clear (the next write is logged by the CPU into the PML buffer, no fault). */
  clean = new Set<bigint>();
  kvm_use_dirty_bitmap() {
    return !this.dirty_ring_size || this.dirty_ring_with_bitmap;
  }
  has_tso() {
    return this.arch === 'x86';
  } // CONFIG_HAVE_KVM_DIRTY_RING_TSO
  has_acq_rel() {
    return true;
  } // both
  need_with_bitmap() {
    return this.arch === 'arm64';
  } // CONFIG_NEED_KVM_DIRTY_RING_WITH_BITMAP

  id_to_memslot(as_id: number, id: number) {
    return this.memslots[as_id]!.get(id);
  }

  // ---- dirty_ring.c ----
  kvm_dirty_ring_used(r: DirtyRing) {
    return u32(r.dirty_index - r.reset_index);
  }
  kvm_dirty_ring_soft_full(r: DirtyRing) {
    if (V('softfull-gt')) return this.kvm_dirty_ring_used(r) > r.soft_limit;
    if (V('softfull-early')) return this.kvm_dirty_ring_used(r) >= r.soft_limit - 1;
    return this.kvm_dirty_ring_used(r) >= r.soft_limit;
  }
  kvm_dirty_ring_full(r: DirtyRing) {
    return this.kvm_dirty_ring_used(r) >= r.size;
  }

  kvm_reset_dirty_gfn(slot: number, offset: bigint, mask: bigint) {
    if (!mask) return;
    const as_id = slot >>> 16;
    let id = slot & 0xffff;
    if (V('id-no-u16')) id = slot; // id = slot instead of (u16)slot
    if (as_id >= this.nrAsIds()) return;
    if (!V('no-id-check') && id >= this.KVM_USER_MEM_SLOTS) return;
    const memslot = this.id_to_memslot(as_id, id);
    if (V('pre-wrap-fix')) {
      // v5.11..v6.18 as released: if (!memslot || (offset + __fls(mask)) >= memslot->npages)
      if (!memslot || u64(offset + __fls(mask)) >= memslot.npages) return;
    } else if (V('no-fls-check')) {
      if (!memslot || offset >= memslot.npages) return;
    } else if (!memslot || offset >= memslot.npages || u64(offset + __fls(mask)) >= memslot.npages) return;
    this.kvm_arch_mmu_enable_log_dirty_pt_masked(memslot, offset, mask);
  }

  kvm_dirty_ring_alloc(ring: DirtyRing, size: number) {
    ring.size = size / SIZEOF_GFN;
    ring.soft_limit = ring.size - this.kvm_dirty_ring_get_rsvd_entries();
    if (V('soft-limit-no-rsvd')) ring.soft_limit = ring.size;
    ring.dirty_index = 0;
    ring.reset_index = 0;
  }

  flagsAddr(r: DirtyRing, i: number) {
    return r.base + i * SIZEOF_GFN;
  }

  kvm_dirty_ring_reset(ring: DirtyRing): number {
    let cur_slot = 0,
      next_slot = 0;
    let cur_offset = 0n,
      next_offset = 0n;
    let mask = 0n;
    let count = 0;
    let first_round = true;
    for (;;) {
      const e = this.flagsAddr(ring, ring.reset_index & (ring.size - 1));
      // kvm_dirty_gfn_harvested: smp_load_acquire(&gfn->flags) & KVM_DIRTY_GFN_F_RESET
      if (!(this.mem.load32(e, 'acquire') & KVM_DIRTY_GFN_F_RESET)) break;
      next_slot = this.mem.load32(e + 4, 'relaxed') >>> 0;
      next_offset = this.mem.load64(e + 8, 'relaxed');
      // kvm_dirty_gfn_set_invalid
      if (!V('no-invalidate')) this.mem.store32(e, 0, 'release');
      ring.reset_index = u32(ring.reset_index + 1);
      count++;
      if (V('no-first-round')) first_round = false;
      if (!first_round && (V('coalesce-ignore-asid') ? (next_slot & 0xffff) === (cur_slot & 0xffff) : next_slot === cur_slot)) {
        const delta = s64(next_offset - cur_offset);
        if (delta >= 0n && (V('fwd-le64') ? delta <= BITS_PER_LONG : delta < BITS_PER_LONG)) {
          mask = u64(mask | (1n << delta));
          continue;
        }
        if (V('backward-no-overflow-check')) {
          if (delta > -BITS_PER_LONG && delta < 0n) {
            cur_offset = next_offset;
            mask = u64(mask << -delta) | 1n;
            continue;
          }
        } else if (V('backward-keep-offset')) {
          if (delta > -BITS_PER_LONG && delta < 0n && u64(mask << -delta) >> -delta === mask) {
            mask = u64(mask << -delta) | 1n; // forgot cur_offset = next_offset
            continue;
          }
        } else if (delta > -BITS_PER_LONG && delta < 0n && u64(mask << -delta) >> -delta === mask) {
          cur_offset = next_offset;
          mask = u64(mask << -delta) | 1n;
          continue;
        }
      }
      this.kvm_reset_dirty_gfn(cur_slot, cur_offset, mask);
      cur_slot = next_slot;
      cur_offset = next_offset;
      mask = 1n;
      first_round = false;
    }
    if (!V('no-final-flush')) this.kvm_reset_dirty_gfn(cur_slot, cur_offset, mask);
    return count;
  }

  kvm_dirty_ring_push(vcpu: Vcpu, slot: number, offset: bigint) {
    const ring = vcpu.dirty_ring;
    if (this.kvm_dirty_ring_full(ring)) {
      /* WARN_ON_ONCE */
    }
    const e = this.flagsAddr(ring, ring.dirty_index & (ring.size - 1));
    if (V('push-flags-first')) {
      // no smp_wmb: flags published before slot and offset
      this.mem.store32(e, KVM_DIRTY_GFN_F_DIRTY, 'relaxed');
      this.mem.store32(e + 4, slot >>> 0, 'relaxed');
      this.mem.store64(e + 8, offset, 'relaxed');
    } else {
      this.mem.store32(e + 4, slot >>> 0, 'relaxed');
      this.mem.store64(e + 8, offset, 'relaxed');
      // smp_wmb(); kvm_dirty_gfn_set_dirtied(entry)
      this.mem.store32(e, KVM_DIRTY_GFN_F_DIRTY, 'release');
    }
    ring.dirty_index = u32(ring.dirty_index + 1);
    if (V('request-eq') ? this.kvm_dirty_ring_used(ring) === ring.soft_limit : this.kvm_dirty_ring_soft_full(ring)) vcpu.softFullRequest = true;
  }

  kvm_dirty_ring_check_request(vcpu: Vcpu): boolean {
    // kvm_check_request clears the request
    if (V('no-exit')) return false; // the request never checked: the vCPU runs on
    const req = vcpu.softFullRequest;
    vcpu.softFullRequest = false;
    if (req && this.kvm_dirty_ring_soft_full(vcpu.dirty_ring)) {
      if (!V('no-rerequest')) vcpu.softFullRequest = true;
      return true;
    }
    return false;
  }

  // ---- arch ----
  kvm_arch_mmu_enable_log_dirty_pt_masked(slot: Memslot, gfn_offset: bigint, mask: bigint) {
    const base_gfn = u64(slot.base_gfn + gfn_offset); // gfn_t is u64: wraps
    if (this.arch === 'arm64' || V('x86-span')) {
      // kvm_stage2_wp_range(start = base_gfn + __ffs(mask), end = base_gfn + __fls(mask) + 1)
      for (let g = base_gfn + __ffs(mask); g < base_gfn + __fls(mask) + 1n; g++) this.writable.delete(u64(g));
    } else {
      // x86 4 KiB leaves, no PML: kvm_mmu_write_protect_pt_masked / TDP MMU clear_dirty_pt_masked(wrprot)
      if (this.pml()) {
        for (let m = mask; m; m &= m - 1n) {
          const g = u64(base_gfn + __ffs(m));
          if (this.writable.has(g)) this.clean.add(g);
        }
        return;
      }
      if (V('x86-first-only')) {
        this.writable.delete(u64(base_gfn + __ffs(mask)));
        return;
      }
      for (let m = mask; m; m &= m - 1n) this.writable.delete(u64(base_gfn + __ffs(m)));
    }
  }

  // ---- kvm_main.c ----
  kvm_vm_ioctl_check_extension_generic(cap: number): number {
    switch (cap) {
      case KVM_CAP_DIRTY_LOG_RING:
        return this.has_tso() ? KVM_DIRTY_RING_MAX_ENTRIES * SIZEOF_GFN : 0;
      case KVM_CAP_DIRTY_LOG_RING_ACQ_REL:
        return this.has_acq_rel() ? KVM_DIRTY_RING_MAX_ENTRIES * SIZEOF_GFN : 0;
      case KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP:
        return this.need_with_bitmap() ? 1 : 0; // else arch default 0
      default:
        return 0;
    }
  }

  kvm_vm_ioctl_enable_dirty_log_ring(size: number): number {
    if (!KVM_DIRTY_LOG_PAGE_OFFSET) return -EINVAL;
    if (!size || size & (size - 1)) return -EINVAL;
    if (size < this.kvm_dirty_ring_get_rsvd_entries() * SIZEOF_GFN || size < PAGE_SIZE) return -EINVAL;
    if (size > KVM_DIRTY_RING_MAX_ENTRIES * SIZEOF_GFN) return -E2BIG;
    if (this.dirty_ring_size) return -EINVAL;
    if (this.created_vcpus) return -EINVAL;
    this.dirty_ring_size = size;
    return 0;
  }

  kvm_vm_ioctl_enable_cap_generic(cap: number, arg0: number, flags: number): number {
    switch (cap) {
      case KVM_CAP_DIRTY_LOG_RING:
      case KVM_CAP_DIRTY_LOG_RING_ACQ_REL:
        if (!V('no-cap-check') && !this.kvm_vm_ioctl_check_extension_generic(cap)) return -EINVAL;
        return this.kvm_vm_ioctl_enable_dirty_log_ring(u32(arg0)); // u64 args[0] passed as u32 size
      case KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP: {
        if (!this.need_with_bitmap() || !this.dirty_ring_size || flags) return -EINVAL;
        if (this.memslots.every((m) => m.size === 0)) {
          this.dirty_ring_with_bitmap = true;
          return 0;
        }
        return -EINVAL;
      }
      default:
        // x86 kvm_vm_ioctl_enable_cap: flags -> -EINVAL; default -EINVAL. arm64: default -EINVAL.
        return -EINVAL;
    }
  }

  kvm_vm_ioctl_create_vcpu(ringBase: number): number {
    this.created_vcpus++;
    const vcpu: Vcpu = { pmlBuf: [], dirty_ring: { dirty_index: 0, reset_index: 0, size: 0, soft_limit: 0, base: ringBase }, softFullRequest: false };
    if (this.dirty_ring_size) this.kvm_dirty_ring_alloc(vcpu.dirty_ring, this.dirty_ring_size);
    this.vcpus.push(vcpu);
    return this.vcpus.length - 1;
  }

  set_memory_region(as_id: number, id: number, npages: number, logDirty: boolean): number {
    if (as_id >= this.nrAsIds() || id >= this.KVM_USER_MEM_SLOTS) return -EINVAL;
    const old = this.id_to_memslot(as_id, id);
    const flags = logDirty ? 1 : 0;
    if (old) {
      if (old.npages !== BigInt(npages)) return -EINVAL;
      if (old.flags === flags) return 0;
      // KVM_MR_FLAGS_ONLY
      if (!(flags & 1)) old.dirty_bitmap = null;
      else if (!old.dirty_bitmap && this.kvm_use_dirty_bitmap()) old.dirty_bitmap = new BigUint64Array(Number((old.npages + 63n) / 64n));
      old.flags = flags;
      if (flags & 1) for (let g = old.base_gfn; g < old.base_gfn + old.npages; g++) this.writable.delete(g);
      return 0;
    }
    const slot: Memslot = { as_id, id, base_gfn: this.nextBaseGfn, npages: BigInt(npages), flags, dirty_bitmap: null };
    this.nextBaseGfn += BigInt(npages) + 1024n;
    // kvm_prepare_memory_region
    if (flags & 1 && this.kvm_use_dirty_bitmap()) slot.dirty_bitmap = new BigUint64Array(Number((slot.npages + 63n) / 64n));
    this.memslots[as_id]!.set(id, slot);
    return 0;
  }

  mark_page_dirty_in_slot(vcpu: Vcpu | null, memslot: Memslot, gfn: bigint) {
    if (memslot && memslot.flags & 1) {
      const rel_gfn = gfn - memslot.base_gfn;
      const slot = V('push-no-asid') ? memslot.id : u32((memslot.as_id << 16) | memslot.id);
      if (this.dirty_ring_size && vcpu) this.kvm_dirty_ring_push(vcpu, slot, rel_gfn);
      else if (memslot.dirty_bitmap) memslot.dirty_bitmap[Number(rel_gfn / 64n)]! |= 1n << (rel_gfn % 64n);
    }
  }

  gfnOf(slotCode: number, offset: number) {
    const m = this.id_to_memslot(slotCode >>> 16, slotCode & 0xffff);
    return m ? m.base_gfn + BigInt(offset) : undefined;
  }

  /**
   * A guest write, as the CPU and KVM handle it. Returns what happened: 'none' (a writable
   * page with D set, or a cached writable translation: no log, no exit), 'logged' (PML: D was
   * clear, the CPU sets it and logs the GPA, no exit), 'pmlFull' (PML: the log is full, the
   * write is not made: PML-full VM exit), 'fault' (EPT violation: a VM exit; the flush, then
   * the fault installs a writable SPTE with D set and marks the page).
   */
  guest_write(vcpu: Vcpu, slotCode: number, offset: number): 'none' | 'logged' | 'pmlFull' | 'fault' {
    const m = this.id_to_memslot(slotCode >>> 16, slotCode & 0xffff);
    if (!m || offset < 0 || BigInt(offset) >= m.npages) return 'none';
    const gfn = m.base_gfn + BigInt(offset);
    if (this.writable.has(gfn)) {
      if (!this.clean.has(gfn)) return 'none';
      // PML: the CPU logs when D goes 0 -> 1; GUEST_PML_INDEX out of 0..511 -> PML-full exit before the write
      if (vcpu.pmlBuf.length >= PML_ENTRIES) return 'pmlFull';
      this.clean.delete(gfn);
      vcpu.pmlBuf.push({ slot: m, gfn });
      return 'logged';
    }
    if (this.tlb.has(gfn)) return 'none'; // a stale writable translation (no PML here: x86 write-protect path)
    // EPT violation: __vmx_handle_exit flushes the PML buffer first, then the fault
    this.vmx_flush_pml_buffer(vcpu);
    this.writable.add(gfn);
    this.tlb.add(gfn);
    this.mark_page_dirty_in_slot(vcpu, m, gfn);
    return 'fault';
  }

  /**
   * vmx_flush_pml_buffer (v6.12.117 vmx.c): the CPU wrote entries 511, 510, ...; KVM reads
   * from GUEST_PML_INDEX + 1 up to 511, so the newest logged GPA is pushed first.
   */
  vmx_flush_pml_buffer(vcpu: Vcpu) {
    const batch = vcpu.pmlBuf.splice(0);
    if (PML_NEWEST_FIRST) batch.reverse();
    for (const e of batch) this.mark_page_dirty_in_slot(vcpu, e.slot, e.gfn);
  }

  kvm_vm_ioctl_reset_dirty_pages(): number {
    if (!this.dirty_ring_size) return -EINVAL;
    let cleared = 0;
    for (const vcpu of V('reset-vcpu0-only') ? this.vcpus.slice(0, 1) : this.vcpus) cleared += this.kvm_dirty_ring_reset(vcpu.dirty_ring);
    if (cleared && !V('reset-no-flush')) this.tlb.clear(); // kvm_flush_remote_tlbs(kvm)
    return cleared;
  }

  kvm_get_dirty_log_protect(slotCode: number): { errno: number; bitmap?: Uint8Array } {
    if (!this.kvm_use_dirty_bitmap()) return { errno: -ENXIO };
    const as_id = slotCode >>> 16,
      id = slotCode & 0xffff;
    if (as_id >= this.nrAsIds() || id >= this.KVM_USER_MEM_SLOTS) return { errno: -EINVAL };
    const memslot = this.id_to_memslot(as_id, id);
    if (!memslot?.dirty_bitmap) return { errno: -ENOENT };
    const db = memslot.dirty_bitmap;
    const buf = new BigUint64Array(db.length);
    for (let i = 0; i < db.length; i++) {
      if (!db[i]) continue;
      const mask = db[i]!;
      db[i] = 0n;
      buf[i] = mask;
      if (!V('getlog-no-protect')) this.kvm_arch_mmu_enable_log_dirty_pt_masked(memslot, BigInt(i) * 64n, mask);
    }
    if (buf.some((w) => w !== 0n)) this.tlb.clear(); // kvm_flush_remote_tlbs_memslot
    const out = new Uint8Array(db.length * 8);
    new DataView(out.buffer).setBigUint64(0, 0n, true);
    for (let i = 0; i < buf.length; i++) new DataView(out.buffer).setBigUint64(i * 8, buf[i]!, true);
    return { errno: 0, bitmap: out };
  }
}

/**
 * The adapter as the environment chose it, or (a test in one process) with these settings
 * instead: PML on with `entries` (512) pushed `order`, and the variants `variant` (comma-separated) on x86 only.
 */
export function pmlAdapter(o?: { entries?: number; order?: 'newest' | 'oldest'; variant?: string }): KvmDirtyRingAdapter {
  if (o !== undefined) {
    PML = true;
    PML_ENTRIES = o.entries ?? 512;
    PML_NEWEST_FIRST = (o.order ?? 'newest') === 'newest';
    VARIANT = o.variant ?? '';
    X86_ONLY = true;
  }
  return {
    profile: 'kvm-dirty-ring',
    name: `linux-6.12.117-dirty-ring-vmx${PML ? ` (PML ${PML_ENTRIES}, ${PML_NEWEST_FIRST ? 'newest first' : 'oldest first'})` : ''}${VARIANT ? ` [${VARIANT}]` : ''}`,
    ...(PML ? { cpuDirtyLogSize: PML_ENTRIES } : {}),
    async create(memory, config): Promise<KvmDirtyRingInstance> {
      currentArch = config.arch;
      const kvm = new Kvm(memory, config.arch);
      return {
        checkExtension: async (cap) => kvm.kvm_vm_ioctl_check_extension_generic(cap),
        enableCap: async (cap, arg0, flags) => kvm.kvm_vm_ioctl_enable_cap_generic(cap, arg0, flags),
        createVcpu: async (ringBase) => kvm.kvm_vm_ioctl_create_vcpu(ringBase),
        setMemslot: async (asId, id, npages, logDirty) => kvm.set_memory_region(asId, id, npages, logDirty),
        run: async (i, writes) => {
          const vcpu = kvm.vcpus[i];
          if (!vcpu) return { exitReason: -ENOENT, done: 0 };
          // vcpu_run -> vcpu_enter_guest: kvm_dirty_ring_check_request before entering the guest
          const entry = () => kvm.dirty_ring_size !== 0 && kvm.kvm_dirty_ring_check_request(vcpu);
          if (entry()) return { exitReason: KVM_EXIT_DIRTY_RING_FULL, done: 0 };
          let done = 0;
          for (let k = 0; k < writes.length; k++) {
            const w = writes[k]!;
            let r = kvm.guest_write(vcpu, w.slot, w.offset);
            if (r === 'pmlFull') {
              // PML-full VM exit: __vmx_handle_exit flushes, handle_pml_full returns 1, re-entry checks requests
              kvm.vmx_flush_pml_buffer(vcpu);
              if (!V('pml-full-no-check') && entry()) return { exitReason: KVM_EXIT_DIRTY_RING_FULL, done };
              r = kvm.guest_write(vcpu, w.slot, w.offset); // the write again, the log empty
            }
            done++;
            // an EPT violation is a VM exit: the handler returns 1 and vcpu_enter_guest checks the request
            if (r === 'fault' && entry()) return { exitReason: KVM_EXIT_DIRTY_RING_FULL, done };
          }
          // HLT: a VM exit (the PML buffer flushed), then KVM_EXIT_HLT to userspace (userspace LAPIC): the request stays pending
          if (kvm.pml() && !V('hlt-no-flush')) kvm.vmx_flush_pml_buffer(vcpu);
          return { exitReason: KVM_EXIT_HLT, done };
        },
        writeWithoutVcpu: async (w) => {
          const m = kvm.id_to_memslot(w.slot >>> 16, w.slot & 0xffff);
          if (!m || w.offset < 0 || BigInt(w.offset) >= m.npages) return;
          kvm.mark_page_dirty_in_slot(null, m, m.base_gfn + BigInt(w.offset));
        },
        resetDirtyRings: async () => kvm.kvm_vm_ioctl_reset_dirty_pages(),
        getDirtyLog: async (slot) => kvm.kvm_get_dirty_log_protect(slot),
        writeProtectedPages: async (slot) => {
          const m = kvm.id_to_memslot(slot >>> 16, slot & 0xffff);
          const n = m ? Number(m.npages) : 0;
          const out = new Uint8Array(Math.ceil(n / 64) * 8);
          if (m && m.flags & 1)
            for (let p = 0; p < n; p++) {
              const g = m.base_gfn + BigInt(p);
              if (!kvm.writable.has(g) || kvm.clean.has(g)) out[p >> 3]! |= 1 << (p & 7);
            }
          return out;
        },
      };
    },
  };
}

void U64;
export default pmlAdapter();
