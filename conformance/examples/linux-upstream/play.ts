// Plays a scenario in the contracts' vocabulary (spec/contracts/types.ts HazardStep) on an
// smmu-driver adapter with the kit's SMMU, step by step: what each step answered, and the
// leaves left in memory. The linux-upstream tests compare it with the contract
// simulation (spec/contracts/simulate.ts); the mutant zoo's directed tests compare a
// mutant with the adapter it mutates.
import { dirtyBitmapPages } from '../../../spec/bitmap/dirty-bitmap.ts';
import type { HazardStep } from '../../../spec/contracts/types.ts';
import { decodeLeaf, type LeafState, type Level } from '../../../spec/descriptor/encoding.ts';
import { walkLeaves } from '../../../spec/descriptor/walk.ts';
import { createKitMemory, createKitSmmu } from '../../adapters/reference.ts';
import type { KitSmmuPort, SmmuDriver, SmmuDriverAdapter } from '../../adapters/types.ts';

/** SMMU_IDR0.COHACC (ARM IHI 0070 §6.3.1; arm-smmu-v3.h IDR0_COHACC): the kit's SMMU walks coherently. */
const IDR0_COHACC = 1 << 4;
const WINDOW = 0x80_0000;
/** Output addresses as spec/contracts/simulate.ts allocates them. */
const PA_BASE = 0x4000_0000;
const PA_STRIDE = 0x200_0000;
const PAGE = 0x1000;

export interface PlayedStep {
  readonly op: HazardStep['op'];
  readonly errno: number;
  /** Pages a report or an unmap returned. */
  readonly reported?: readonly number[];
  readonly unmapped?: number;
  readonly dma?: 'ok' | 'fault';
}

export interface Played {
  readonly steps: readonly PlayedStep[];
  /** The leaves in the 8 MiB window, from the table the first attached stream's CD points at. */
  readonly leaves: readonly { readonly iova: number; readonly size: number; readonly state: LeafState }[];
  /** Each attached stream's CD word 0 (HA bit 43, HD bit 42). */
  readonly cdWord0: ReadonlyMap<number, bigint>;
}

/** `coherent`: the SMMU presents IDR0.COHACC (Linux needs it for dirty tracking, arm_smmu_dbm_capable); false takes it away. */
export async function play(adapter: SmmuDriverAdapter, steps: readonly HazardStep[], coherent = true): Promise<Played> {
  const memory = createKitMemory();
  let driver: SmmuDriver | undefined;
  let smmu: ReturnType<typeof createKitSmmu> | undefined;
  let nextPa = PA_BASE;
  const out: PlayedStep[] = [];
  const cds = new Map<number, number>();
  const need = (): SmmuDriver => {
    if (driver === undefined) throw new Error('a step after a refused or missing create');
    return driver;
  };
  for (const step of steps) {
    switch (step.op) {
      case 'create': {
        const s = createKitSmmu(memory, { httu: step.httu, bbml: step.bbml, iotlbCapacity: 64 });
        smmu = s;
        const port: KitSmmuPort = {
          idr0: coherent ? s.idr0 | IDR0_COHACC : s.idr0 & ~IDR0_COHACC,
          idr3: s.idr3,
          attachStream: (id, cd) => {
            cds.set(id, cd);
            s.attachStream(id, cd);
          },
          detachStream: (id) => s.detachStream(id),
          submit: (c) => s.submit(c),
        };
        const d = await adapter.create(memory, port, { asid: 1, dirtyCapable: step.dirtyCapable, pageGranular: step.pageGranular });
        if (typeof d === 'number') out.push({ op: step.op, errno: d });
        else {
          driver = d;
          out.push({ op: step.op, errno: 0 });
        }
        break;
      }
      case 'attach':
        out.push({ op: step.op, errno: await need().attach(step.stream) });
        break;
      case 'setDirtyTracking':
        out.push({ op: step.op, errno: await need().setDirtyTracking(step.enable) });
        break;
      case 'map': {
        const pa = nextPa + (step.pa === 'page-aligned' ? PAGE : 0);
        nextPa += PA_STRIDE;
        out.push({ op: step.op, errno: await need().map(step.iova, pa, step.size, step.write ? 3 : 1) });
        break;
      }
      case 'dmaWrite':
        out.push({ op: step.op, errno: 0, dma: smmu!.dmaWrite(step.stream, step.iova).ok ? 'ok' : 'fault' });
        break;
      case 'readAndClearDirty': {
        const r = await need().readAndClearDirty(step.iova, step.size, step.noClear ? 1 : 0);
        out.push({ op: step.op, errno: r.errno, reported: dirtyBitmapPages(r.dirty, step.iova) });
        break;
      }
      case 'unmap': {
        const r = await need().unmap(step.iova, step.size);
        out.push({ op: step.op, errno: 0, unmapped: r.unmapped, reported: dirtyBitmapPages(r.dirty, step.iova) });
        break;
      }
      case 'splitBlock': {
        const d = need();
        if (d.splitBlock === undefined) throw new Error('the adapter has no splitBlock');
        out.push({ op: step.op, errno: await d.splitBlock(step.iova, 0x20_0000) });
        break;
      }
      case 'mergePages': {
        const d = need();
        if (d.mergePages === undefined) throw new Error('the adapter has no mergePages');
        out.push({ op: step.op, errno: await d.mergePages(step.iova, step.level, step.level === 1 ? 0x4000_0000 : 0x20_0000) });
        break;
      }
    }
  }
  const first = [...cds.values()][0];
  const ttb0 = first === undefined ? 0 : Number(memory.load(first + 8) & (((1n << 52n) - 1n) & ~0xfn));
  const leaves = ttb0 === 0 ? [] : walkLeaves((a) => memory.load(a), ttb0, 0, WINDOW).map((l) => ({ iova: l.iova, size: l.size, state: decodeLeaf(l.pte, l.level as Level).state }));
  return { steps: out, leaves, cdWord0: new Map([...cds].map(([id, cd]) => [id, memory.load(cd)])) };
}
