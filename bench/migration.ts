// Seed 000's FPGA measurement, in the model: pages a pre-copy migration sends with legacy
// read-and-clear (GET_BITMAP, then copy) and with manual clear (GET_BITMAP_NOCLEAR, then
// CLEAR_BITMAP of each reported page just before its copy), on the reference type1
// container with HTTU, while a device DMAs into a fixed area of AREA pages through the SMMU.
//
// Time is counted in client steps: one step per page the client sends and one per sync
// (a CLEAR_BITMAP is free). A burst writes every page of the area at once, between two steps.
// The client iterates until a round sends nothing (or its round limit), then stops the
// device; bursts still due then never happen, so the table counts the bursts performed.
// - Scenario 1a: 10 bursts, burst k during round k (round 0 is the bulk stage), after the
//   round's d-th page (at the round's end if it has fewer pages): one burst per round.
// - Scenario 1b: 10 bursts every S client steps, whatever the rounds; mean over 8 phases.
// - Scenario 2: continuous DMA, a burst at every step, for CONTINUOUS_ROUNDS rounds.
// Every run checks destination == source page for page (the client throws otherwise).
// Seed 000 reports 10 bursts moving 6 bursts' worth with manual clear (scenario 1) and
// no difference with continuous DMA (scenario 2).
//
// Why the model gives what it gives: a burst after the client has sent j of a round's n
// reported pages costs read-and-clear all AREA pages next round; with manual clear only
// the j already sent plus the AREA - n the sync did not report (the client clears only
// what the sync reported, as QEMU does; in the bulk round that is nothing, so a burst
// there costs both modes the same). Full rounds and short rounds then alternate.
import { createType1Container, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../impl/vfio/type1-container.ts';
import { migrate, type MigrationEvent, type MigrationMode, type MigrationPort } from '../model/migration/migration-client.ts';
import type { Figure, Scenario } from './index.ts';

const PG = 0x1000;
const AREA = 256; // pages
const IOVA = 0x10_0000;
const VADDR = 0x8000_0000;
const BURSTS = 10;
const MAX_ROUNDS = 30;
const CONTINUOUS_ROUNDS = 10;
/** Scenario 1a: where in its round each burst lands, in pages sent since the round's sync. */
const OFFSETS = [0, 1, 32, 64, 128, 192, 255];
/** Scenario 1b: burst spacings in client steps (a full round is AREA + 1 steps). */
const SPACINGS = [32, 64, 128, 192, 256];
const PHASES = 8;
const MODES: MigrationMode[] = ['read-and-clear', 'manual-clear'];

interface Run {
  readonly sent: number;
  readonly rounds: number;
  readonly bursts: number;
}

/** What the device sees of the client: whether the event starts a step (a page or a sync), the step clock, bursts so far, pages sent in this round. */
interface DeviceView {
  readonly tick: boolean;
  readonly step: number;
  readonly bursts: number;
  readonly pageInRound: number;
}
type Schedule = (e: MigrationEvent, v: DeviceView) => boolean;

/** One migration of the area while the device bursts when `schedule` says so. */
function run(mode: MigrationMode, schedule: Schedule, maxRounds: number): Run {
  const t = createType1Container({ pageGranular: true });
  if (t.container.mapDma(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, VADDR, IOVA, AREA * PG).errno !== 0) throw new Error('migration bench: MAP_DMA failed');
  const source = new Uint32Array(AREA);
  const dest = new Map<number, number>();
  let stopped = false;
  const view = { tick: false, step: 0, bursts: 0, pageInRound: 0 };
  const burst = () => {
    for (let i = 0; i < AREA; i++) {
      if (!t.smmu.dmaWrite(0, IOVA + i * PG).ok) throw new Error(`migration bench: DMA write to page ${i} faulted`);
      source[i]!++;
    }
    view.bursts++;
  };
  const port: MigrationPort = {
    checkExtension: (e) => t.container.checkExtension(e),
    dirtyPages: (flags, range) => t.container.dirtyPages(flags, range),
    readSource: (p) => source[(p - IOVA) / PG]!,
    writeDestination: (p, v) => void dest.set(p, v),
    readDestination: (p) => dest.get(p),
    stopDevice: () => void (stopped = true),
  };
  const r = migrate(port, {
    mode,
    ranges: [{ iova: IOVA, size: AREA * PG }],
    threshold: 1,
    maxRounds,
    onEvent: (e) => {
      if (stopped || e.final) return;
      const sync = e.at === 'ioctl' && e.when === 'before' && (e.op === 'GET_BITMAP' || e.op === 'GET_BITMAP_NOCLEAR');
      if (sync) view.pageInRound = 0;
      view.tick = sync || e.at === 'page';
      if (schedule(e, view)) burst();
      if (view.tick) view.step++;
      if (e.at === 'page') view.pageInRound++;
    },
  });
  return { sent: r.pagesSent, rounds: r.perRound.length, bursts: view.bursts };
}

/** 1a: burst k during round k, before the round's page `d` (or at its end). */
const perRound =
  (d: number): Schedule =>
  (e, v) =>
    v.bursts < BURSTS && e.round === v.bursts && ((e.at === 'page' && v.pageInRound === d) || e.at === 'round-end');
/** 1b: a burst at steps phase, phase + s, ... (10 of them). */
const periodic =
  (s: number, phase: number): Schedule =>
  (_e, v) =>
    v.bursts < BURSTS && v.tick && v.step >= phase && (v.step - phase) % s === 0;
/** 2: a burst at every step. */
const continuous: Schedule = (_e, v) => v.tick;

const pad = (s: string | number, n: number) => String(s).padStart(n);
const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

export const migration: Scenario = {
  name: 'migration',
  run(log) {
    const figures: Figure[] = [];
    log(`area ${AREA} pages; a step = one page sent or one sync; worth = pages sent / ${AREA}`);
    log(`${'scenario'.padEnd(36)}${pad('mode', 15)}${pad('bursts', 7)}${pad('rounds', 7)}${pad('pages', 8)}${pad('worth', 7)}${pad('manual/legacy', 14)}`);
    const row = (label: string, mode: MigrationMode, r: Run, ratio?: number) =>
      log(`${label.padEnd(36)}${pad(mode, 15)}${pad(fmt(r.bursts), 7)}${pad(fmt(r.rounds), 7)}${pad(fmt(r.sent), 8)}${pad((r.sent / AREA).toFixed(2), 7)}${pad(ratio === undefined ? '' : ratio.toFixed(3), 14)}`);
    const mean = (runs: Run[]): Run => ({
      sent: runs.reduce((a, r) => a + r.sent, 0) / runs.length,
      rounds: runs.reduce((a, r) => a + r.rounds, 0) / runs.length,
      bursts: runs.reduce((a, r) => a + r.bursts, 0) / runs.length,
    });
    const compare = (label: string, key: string, schedules: Schedule[], maxRounds: number) => {
      const [legacy, manual] = MODES.map((m) => mean(schedules.map((s) => run(m, s, maxRounds)))) as [Run, Run];
      const ratio = manual.sent / legacy.sent;
      row(label, 'read-and-clear', legacy);
      row('', 'manual-clear', manual, ratio);
      figures.push(
        { name: `${key} pages sent, read-and-clear`, value: legacy.sent, unit: 'pages' },
        { name: `${key} pages sent, manual clear`, value: manual.sent, unit: 'pages' },
        { name: `${key} bursts performed, read-and-clear`, value: legacy.bursts, unit: 'bursts' },
        { name: `${key} bursts performed, manual clear`, value: manual.bursts, unit: 'bursts' },
        { name: `${key} pages sent, manual clear / read-and-clear`, value: ratio, unit: 'ratio' },
      );
    };

    for (const d of OFFSETS) compare(`1a: burst k in round k, at page ${d}`, `scenario 1a, offset ${d}:`, [perRound(d)], MAX_ROUNDS);
    for (const s of SPACINGS) {
      const phases = Array.from({ length: PHASES }, (_, i) => Math.floor((i * s) / PHASES));
      compare(
        `1b: every ${s} steps (${PHASES} phases)`,
        `scenario 1b, spacing ${s}:`,
        phases.map((p) => periodic(s, p)),
        MAX_ROUNDS,
      );
    }
    compare('2: a burst every step', 'scenario 2 (continuous):', [continuous], CONTINUOUS_ROUNDS);
    return figures;
  },
};
