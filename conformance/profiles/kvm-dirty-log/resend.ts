// What manual protect saves a migration: pages sent more than once, with GET + CLEAR before
// each 64-page chunk is sent (manual protect, as QEMU's kvm_log_clear) against GET alone
// (read-and-clear), for the same guest write pattern: bursts of writes at an offset and a
// spacing inside the 64-page chunk just ahead of the one being sent, while the client
// sends the bulk round (so both modes see the same writes). Under read-and-clear such a page, sent in this round, is reported by the next
// sync and sent again; under manual protect its chunk is cleared just before it is sent,
// so the write is in the copy and nothing is owed. For the benchmark's table (the lead's
// bench/ wires it); the migration's own check (destination equals source) runs too.
import { KvmMigrationClient, type KvmMigrationMode } from '../../../model/kvm-dirty-log/migration.ts';
import { KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_MEM_LOG_DIRTY_PAGES, PAGE_SIZE } from '../../../spec/kvm/dirty-log/args.ts';
import type { KvmDirtyLogAdapter } from './adapter.ts';

export interface BurstPattern {
  /** Pages of the slot (one slot). */
  readonly pages: number;
  /** Writes per burst, at `offset`, `offset + spacing`, ... inside the chunk ahead. */
  readonly burst: number;
  readonly offset: number;
  readonly spacing: number;
  /** Iterative rounds before stop-and-copy. */
  readonly rounds: number;
}

export interface ResendFigures {
  readonly mode: KvmMigrationMode;
  readonly pages: number;
  readonly sent: number;
  /** sent - pages: what the dirty log made the client send again. */
  readonly resent: number;
  readonly guestWrites: number;
}

const GPA = 0x1_0000_0000n;
const UADDR = 0x7000_0000_0000n;

/** One migration of a fresh VM of `adapter` in `mode` under `pattern`. */
export async function measureResends(adapter: KvmDirtyLogAdapter, mode: KvmMigrationMode, pattern: BurstPattern): Promise<ResendFigures> {
  const vm = await adapter.create({ hwDirty: false, eagerSplit: true, dirtyRingExclusive: false }, { between: () => [] });
  const size = BigInt(pattern.pages) * BigInt(PAGE_SIZE);
  const expect0 = (what: string, errno: number) => {
    if (errno !== 0) throw new Error(`${adapter.name}: ${what} returned ${errno}`);
  };
  if (mode === 'manual-protect') expect0('KVM_ENABLE_CAP', (await vm.enableCap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0, 1n)).errno);
  expect0('KVM_SET_USER_MEMORY_REGION', (await vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM_LOG_DIRTY_PAGES, guestPhysAddr: GPA, memorySize: size, userspaceAddr: UADDR })).errno);
  const versions = new Map<number, number>();
  let stopped = false;
  let writes = 0;
  const chunks = Math.ceil(pattern.pages / 64);
  const client = new KvmMigrationClient(
    {
      getDirtyLog: (slot, bytes) => vm.getDirtyLog(slot, bytes),
      clearDirtyLog: (slot, first, num, bitmap) => vm.clearDirtyLog(slot, first, num, bitmap),
      readSource: (_slot, page) => versions.get(page) ?? 0,
      onEvent: async (e) => {
        // Before the first page of a chunk is sent in the bulk round, a burst lands in the
        // chunk ahead: both modes send every chunk in that round, so they see the same writes.
        if (stopped || e.at !== 'before' || e.what !== 'send' || e.round !== 0 || e.page % 64 !== 0) return;
        const ahead = (Math.floor(e.page / 64) + 1) % chunks;
        for (let i = 0; i < pattern.burst; i++) {
          const page = ahead * 64 + ((pattern.offset + i * pattern.spacing) % 64);
          if (page >= pattern.pages) continue;
          const r = await vm.vcpuWrite(GPA + BigInt(page) * BigInt(PAGE_SIZE));
          if (r.exit !== 'none') throw new Error(`${adapter.name}: the guest write at page ${page} exited (${r.exit})`);
          versions.set(page, (versions.get(page) ?? 0) + 1);
          writes++;
        }
      },
      stopVcpus: () => {
        stopped = true;
      },
    },
    mode,
    [{ slot: 0, npages: pattern.pages }],
    pattern.rounds,
  );
  const r = await client.run();
  return { mode, pages: pattern.pages, sent: r.sent, resent: r.sent - pattern.pages, guestWrites: writes };
}
