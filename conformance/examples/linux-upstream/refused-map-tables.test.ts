// A map refused with -EEXIST may or may not leave the tables on its path: raw iommu_map
// installs them chunk by chunk before it meets the leaf that refuses it, iommufd refuses an
// overlapping area before it touches the page table. The difference shows at an unmap whose
// 2 MiB chunk covers such a table: freed whole (its span counted) or a hole (the unmap stops).
// Both are Linux, and both conform.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contracts } from '../../../spec/contracts/index.ts';
import { MapCommand, type TraceStep, TrackingCommand, UnmapCommand } from '../../engine/commands.ts';
import { replaySmmuSequence } from '../../engine/run-profile.ts';
import { Violation } from '../../../model/violation.ts';
import { linuxUpstreamAdapter } from './adapter.ts';

const CONFIG = { httu: 2 as const, bbml: 2 as const, iotlbCapacity: 1, dirtyCapable: true, pageGranular: false, startTracking: false };

test('[UNMAP-U2] [MAP-4] after a map refused over a block, iommufd left no table where the kit plans for raw iommu_map: the unmap stops at the hole, and that conforms', async () => {
  const trace: TraceStep[] = [];
  const commands = [
    new TrackingCommand(true),
    // A block at 6 MiB; 512 pages from 0x401000 run into it (-EEXIST): raw iommu_map has installed a level-3 table at 4 MiB by then.
    new MapCommand(0x600, 512, false, true),
    new MapCommand(0x401, 512, false, false),
    new MapCommand(0, 1024, false, true),
    new UnmapCommand(0x200, 1024),
  ];
  try {
    await replaySmmuSequence(linuxUpstreamAdapter(), { config: CONFIG, commands }, 5000, trace, contracts['linux-upstream']);
  } catch (e) {
    assert.not.instance(e, Violation, String(e));
    throw e;
  }
  assert.match(trace.find((s) => s.op.startsWith('map(0x401000'))?.answer ?? '', /^-EEXIST/);
  assert.match(trace.find((s) => s.op.startsWith('unmap(0x200000'))?.answer ?? '', /^0x200000 bytes/);
});

test.run();
