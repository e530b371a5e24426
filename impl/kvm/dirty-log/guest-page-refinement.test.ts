// The reference's stage 2, TLB and PML against the kvmGuestPage machine: random sequences
// of guest writes, protections (split or not), TLB flushes, zaps and PML drains on one
// page of a slot, each stepped through the machine, and after each step the page's leaf,
// its cached translation and its hardware log compared with the machine's state. A
// black-box profile cannot see leaves, so this is where every transition of the machine
// is exercised against an implementation (the test asserts the coverage is whole).
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyTransitionDefinition } from 'xstate';
import { kvmGuestPageMachine as m, kvmGuestPageStateOf, type KvmGuestPageEvent } from '../../../spec/kvm/dirty-log/guest-page-machine.ts';
import { machineTransitions } from '../../../spec/machines.ts';
import { initialState, step } from '../../../spec/step.ts';
import { PhysicalMemory } from '../../memory/physical-memory.ts';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KvmVm, type KvmVmOptions } from './kvm-vm.ts';

const PG = 4096;
const GPA = 0x4000_0000; // 2 MiB aligned
const RO_GPA = 0x8000_0000;
const UADDR = 0x7e00_0000_0000;

/** The reference with its KVM-internal steps reachable one at a time. */
class Probe extends KvmVm {
  protect(gfn: number, split: boolean): void {
    const slot = this.slotOf(0, gfn)!;
    this.protectPages(slot, [gfn - slot.baseGfn], split);
  }
  flush(): void {
    this.flushTlb();
  }
  zap(gfn: number): void {
    this.zapSlot(this.slotOf(0, gfn)!);
    this.flushTlb();
  }
  sync(): void {
    this.syncDirtyLog();
  }
}

type Op = { k: 'write' } | { k: 'writeRo' } | { k: 'logOn' } | { k: 'protect'; split: boolean } | { k: 'flush' } | { k: 'zap' } | { k: 'sync' };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ k: 'write' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'writeRo' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'logOn' as const }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('protect' as const), split: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ k: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'zap' as const }) },
  { weight: 2, arbitrary: fc.constant({ k: 'sync' as const }) },
);
const key = (t: AnyTransitionDefinition) => `${t.source.path.join('.') || '(root)'} --${t.eventType}#${(t.source.transitions.get(t.eventType) ?? []).indexOf(t)}`;

test('[KVM-PT-1] [KVM-PT-2] [KVM-PT-3] [KVM-PT-4] [KVM-PT-5] [KVM-PT-6] [KVM-PT-7] [KVM-PT-8] [KVM-PT-9] [KVM-PT-10] [KVM-PT-11] [KVM-PT-12] [KVM-PT-13] [KVM-PT-14] [KVM-PT-15] [KVM-PT-16] the reference refines the guest-page machine, every transition taken', () => {
  const covered = new Set<string>();
  fc.assert(
    fc.property(fc.record({ hwDirty: fc.boolean(), logging: fc.boolean(), hugePages: fc.boolean(), eagerSplit: fc.boolean(), ops: fc.array(op, { minLength: 1, maxLength: 24 }) }), (sc) => {
      const options: KvmVmOptions = { hwDirty: sc.hwDirty, hugePages: sc.hugePages, eagerSplit: sc.eagerSplit };
      let logging = sc.logging;
      const vm = new Probe(new PhysicalMemory(), options);
      assert.is(vm.setUserMemoryRegion({ slot: 0, flags: sc.logging ? KVM_MEM_LOG_DIRTY_PAGES : 0, guestPhysAddr: GPA, memorySize: 512 * PG, userspaceAddr: UADDR }), 0);
      assert.is(vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM_READONLY, guestPhysAddr: RO_GPA, memorySize: 512 * PG, userspaceAddr: UADDR + 0x20_0000 }), 0);
      const gfn = GPA / PG;
      let page = initialState(m);
      let ro = initialState(m);
      for (const o of sc.ops) {
        if (o.k === 'logOn') {
          // KVM_MEM_LOG_DIRTY_PAGES switched on: every leaf protected (split as the VM does), then the flush (KVM-SLOT-14).
          if (logging) continue;
          logging = true;
          assert.is(vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guestPhysAddr: GPA, memorySize: 512 * PG, userspaceAddr: UADDR }), 0);
          for (const e of [{ type: 'PROTECT', hwDirty: sc.hwDirty, split: sc.eagerSplit }, { type: 'FLUSH' }] as KvmGuestPageEvent[]) {
            for (const t of m.getTransitionData(page, e) as AnyTransitionDefinition[]) covered.add(key(t));
            page = step(m, page, e)[0];
          }
          assert.is(vm.leafState(gfn), kvmGuestPageStateOf(page).leaf, `leaf after logging on in ${JSON.stringify(sc)}`);
          continue;
        }
        const event: KvmGuestPageEvent =
          o.k === 'write' || o.k === 'writeRo'
            ? { type: 'WRITE', logging: o.k === 'write' && logging, readonlySlot: o.k === 'writeRo', hugeBacked: sc.hugePages }
            : o.k === 'protect'
              ? { type: 'PROTECT', hwDirty: sc.hwDirty, split: o.split }
              : { type: o.k === 'flush' ? 'FLUSH' : o.k === 'zap' ? 'ZAP' : 'SYNC' };
        const before = o.k === 'writeRo' ? ro : page;
        for (const t of m.getTransitionData(before, event) as AnyTransitionDefinition[]) covered.add(key(t));
        const [after] = step(m, before, event);
        if (o.k === 'writeRo') {
          assert.equal(vm.vcpuWrite(RO_GPA), { exit: 'mmio' });
          ro = after;
          continue;
        }
        page = after;
        if (o.k === 'write') assert.equal(vm.vcpuWrite(GPA), { exit: 'none' });
        if (o.k === 'protect') vm.protect(gfn, o.split);
        if (o.k === 'flush') vm.flush();
        if (o.k === 'zap') vm.zap(gfn);
        if (o.k === 'sync') vm.sync();
        const want = kvmGuestPageStateOf(page);
        const what = `after ${JSON.stringify(o)} in ${JSON.stringify(sc)}`;
        assert.is(vm.leafState(gfn), want.leaf, `leaf ${what}`);
        assert.is(vm.tlb.has(gfn), want.tlb !== 'empty', `tlb ${what}`);
        assert.is(vm.pml.includes(gfn), want.pml === 'pending', `pml ${what}`);
      }
    }),
    { numRuns: 600, seed: 1 },
  );
  assert.equal(
    machineTransitions(m)
      .map((t) => t.key)
      .filter((k) => !covered.has(k)),
    [],
  );
});

test.run();
