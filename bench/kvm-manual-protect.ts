// KVM's dirty log with manual protect against GET alone, for the same guest writes: pages
// a migration sends more than once. The migration client (model/kvm-dirty-log/migration.ts)
// sends one slot chunk by chunk (64 pages, one bitmap word); before the first page of each
// chunk is sent, the vCPU writes a burst into the chunk ahead: `burst` pages at `offset`,
// `offset + spacing`, ... (mod 64) of that chunk. With GET alone (read-and-clear, manual
// protect off) each of those pages, sent in this round, is reported again by the next sync
// and sent again. With manual protect (KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)
// args[0] 1; GET, then KVM_CLEAR_DIRTY_LOG of each chunk just before it is sent, as QEMU's
// kvm_log_clear does) the chunk's pages are cleared and re-protected just before their
// copy, so a write before the copy is in the copy and nothing is owed; only a write into a
// chunk already sent costs a page again (the last chunk's writes land in chunk 0).
//
// On the reference implementation (impl/kvm/dirty-log/, through its adapter); every
// migration checks destination == source page for page. Figures: the pages re-sent in
// each mode over the whole grid, and their ratio.
import { referenceKvmDirtyLogAdapter } from '../conformance/adapters/reference.ts';
import { type BurstPattern, measureResends } from '../conformance/profiles/kvm-dirty-log/resend.ts';
import type { Scenario } from './index.ts';

/** A slot whose size is not a multiple of 64 pages: its last chunk is partial. */
const PAGES = 1000;
const ROUNDS = 3;
const BURSTS = [1, 8, 32];
const OFFSETS = [0, 3, 31, 63];
const SPACINGS = [1, 7, 16];

const pad = (s: string | number, n: number) => String(s).padStart(n);

export const kvmManualProtect: Scenario = {
  name: 'kvm-manual-protect',
  async run(log) {
    log(`one slot of ${PAGES} pages, ${ROUNDS} rounds before stop-and-copy; before each 64-page chunk is sent, a burst of writes in the chunk ahead`);
    log(`${pad('burst', 6)}${pad('offset', 7)}${pad('spacing', 8)}${pad('writes', 8)}${pad('GET alone', 11)}${pad('GET+CLEAR', 11)}${pad('saved', 7)}  (pages re-sent)`);
    let auto = 0;
    let manual = 0;
    let rows = 0;
    for (const burst of BURSTS)
      for (const offset of OFFSETS)
        for (const spacing of SPACINGS) {
          if (burst === 1 && spacing !== SPACINGS[0]) continue; // one write has no spacing
          const pattern: BurstPattern = { pages: PAGES, burst, offset, spacing, rounds: ROUNDS };
          const a = await measureResends(referenceKvmDirtyLogAdapter(), 'read-and-clear', pattern);
          const m = await measureResends(referenceKvmDirtyLogAdapter(), 'manual-protect', pattern);
          if (a.guestWrites !== m.guestWrites) throw new Error(`kvm-manual-protect: the two modes saw ${a.guestWrites} and ${m.guestWrites} guest writes for the same pattern`);
          log(`${pad(burst, 6)}${pad(offset, 7)}${pad(burst === 1 ? '-' : spacing, 8)}${pad(a.guestWrites, 8)}${pad(a.resent, 11)}${pad(m.resent, 11)}${pad(a.resent - m.resent, 7)}`);
          auto += a.resent;
          manual += m.resent;
          rows++;
        }
    log(`${rows} patterns: ${auto} pages re-sent with GET alone, ${manual} with GET+CLEAR`);
    return [
      { name: 'kvm-manual-protect: pages re-sent, GET alone (read-and-clear), all patterns', value: auto, unit: 'pages' },
      { name: 'kvm-manual-protect: pages re-sent, GET+CLEAR (manual protect), all patterns', value: manual, unit: 'pages' },
      { name: 'kvm-manual-protect: re-sent with GET+CLEAR / with GET alone', value: auto === 0 ? 0 : manual / auto, unit: 'ratio', target: { atMost: 1 } },
    ];
  },
};
