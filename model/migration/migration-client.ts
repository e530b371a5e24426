// A pre-copy migration client over the VFIO type1 dirty-page ioctls, in the two modes of
// the QEMU RFC: legacy read-and-clear (GET_BITMAP, then copy) and manual clear
// (GET_BITMAP_NOCLEAR to learn the dirty set, then per page CLEAR_BITMAP of that page
// *before* copying it). It is the client side of the no-loss property: whatever the
// device writes between or during the client's calls, the destination ends equal to the
// source page for page, and the client checks it.
//
// Requirements: NOLOSS-1, NOLOSS-2, VFIO-CLEAR-1, VFIO-CLEAR-4, VFIO-CLEAR-5
// Sources: QEMU RFC v2 "vfio/migration: Support manual clear vfio dirty log" (Kunkun Jiang,
//          8 May 2021, <20210508093105.2558-1-jiangkunkun@huawei.com>: vfio_sync_dirty_bitmap
//          with GET_BITMAP_NOCLEAR, vfio_log_clear before the page is sent); dirtyspec design:
//          clear a page before reading its contents, so a write after the clear is caught.
//
// Memory is modelled by contents versions: a device write bumps the source page's
// version; a copy reads the source version and writes it at the destination.
//
// The rounds: round 0 sends every page (the bulk stage) plus nothing else; each later
// round sends what the round's sync reported. After a round that sent fewer than
// `threshold` pages, or after `maxRounds` rounds, the device is stopped, a final sync
// and copy are made, tracking is stopped and the destination is compared with the source.
//
// Manual clear follows QEMU's log_clear: only pages the last sync reported are cleared
// (bits the client has not seen are never cleared), so a page copied in the bulk stage
// and not reported is copied without a clear; a write to it after the sync is then
// reported by the next sync (sent again, never lost).
//
// DEPARTS from QEMU: CLEAR_BITMAP is issued per page (QEMU clears 64-page slices the
// first time a page of the slice is sent); the clear-before-copy rule is the same.
import { dirtyBitmapBytes, dirtyBitmapPages } from '../../spec/bitmap/dirty-bitmap.ts';
import {
  VFIO_DIRTY_LOG_MANUAL_CLEAR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_START,
  VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
  type DirtyPagesOp,
} from '../../spec/vfio/args.ts';

export const MIGRATION_PAGE_SIZE = 0x1000;
const PG = MIGRATION_PAGE_SIZE;

/** struct vfio_iommu_type1_dirty_bitmap_get, as the client passes it. */
export interface MigrationDirtyRange {
  readonly iova: number;
  readonly size: number;
  readonly bitmap: { readonly pgsize: number; readonly size: number; readonly data?: Uint8Array };
}

/** What the client needs: the container's ioctls, the source pages' versions, the destination. */
export interface MigrationPort {
  /** VFIO_CHECK_EXTENSION. */
  checkExtension(extension: number): number;
  /** VFIO_IOMMU_DIRTY_PAGES: `{ errno }` (0 or -errno) and, for GET_BITMAP(_NOCLEAR), the bitmap. */
  dirtyPages(flags: number, range?: MigrationDirtyRange): { errno: number; bitmap?: Uint8Array };
  /** The contents version of the source page at `iova` (what a copy reads). */
  readSource(iova: number): number;
  /** Writes `version` as the destination page at `iova`. */
  writeDestination(iova: number, version: number): void;
  /** The destination page's version, undefined if never written. */
  readDestination(iova: number): number | undefined;
  /** Stops the device (no DMA after this returns): the stop-and-copy phase starts. */
  stopDevice(): void;
}

export type MigrationMode = 'read-and-clear' | 'manual-clear';

/** The points at which the client calls `onEvent`, in order; the device may write at any of them. */
export type MigrationEvent =
  | { readonly at: 'ioctl'; readonly when: 'before' | 'after'; readonly op: DirtyPagesOp; readonly round: number; readonly final: boolean; readonly page?: number }
  /** Before any work on `page` (before its clear, in manual-clear mode). */
  | { readonly at: 'page'; readonly page: number; readonly round: number; readonly final: boolean }
  | { readonly at: 'copy'; readonly when: 'before' | 'after'; readonly page: number; readonly round: number; readonly final: boolean }
  | { readonly at: 'round-end'; readonly round: number; readonly sent: number; readonly final: boolean };

export interface MigrationOptions {
  readonly mode: MigrationMode;
  /** The DMA mappings to migrate (each exactly one MAP_DMA: GET_BITMAP must not bisect one). */
  readonly ranges: readonly { readonly iova: number; readonly size: number }[];
  /** Stop iterating after a round that sent fewer pages than this (default 1: a round that sent nothing). */
  readonly threshold?: number;
  /** Stop iterating after this many rounds, the bulk round included (default 30). */
  readonly maxRounds?: number;
  /**
   * Manual clear only. 'before-copy' is the rule. 'after-copy' is the WRONG order, kept to
   * show that the rule matters: a write between the copy and the clear is forgotten.
   */
  readonly clearOrder?: 'before-copy' | 'after-copy';
  readonly onEvent?: (event: MigrationEvent) => void;
}

export interface MigrationResult {
  /** Pages copied in all, the final copy included. */
  readonly pagesSent: number;
  /** Pages copied per pre-copy round (round 0 is the bulk stage). */
  readonly perRound: readonly number[];
  /** Pages copied after the device stopped. */
  readonly finalSent: number;
  readonly clears: number;
}

/** The destination differs from the source after the final copy: a page was lost. */
export class MigrationMismatch extends Error {
  constructor(
    readonly page: number,
    readonly source: number,
    readonly destination: number | undefined,
  ) {
    super(`migration: destination page 0x${page.toString(16)} has version ${destination ?? 'none'}, the source has ${source} (a write was lost)`);
    this.name = 'MigrationMismatch';
  }
}

const OP: Record<number, DirtyPagesOp> = {
  [VFIO_IOMMU_DIRTY_PAGES_FLAG_START]: 'START',
  [VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP]: 'STOP',
  [VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP]: 'GET_BITMAP',
  [VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR]: 'GET_BITMAP_NOCLEAR',
  [VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP]: 'CLEAR_BITMAP',
};

export function migrate(port: MigrationPort, options: MigrationOptions): MigrationResult {
  const { mode, ranges } = options;
  const threshold = options.threshold ?? 1;
  const maxRounds = options.maxRounds ?? 30;
  const clearOrder = options.clearOrder ?? 'before-copy';
  const emit = options.onEvent ?? (() => {});
  for (const r of ranges) {
    if (r.size <= 0 || r.iova % PG !== 0 || r.size % PG !== 0) throw new RangeError(`migration: range 0x${r.iova.toString(16)}+0x${r.size.toString(16)} is not page-aligned`);
  }
  const manual = mode === 'manual-clear';
  let round = 0;
  let final = false;
  let clears = 0;

  const ioctl = (flags: number, range?: MigrationDirtyRange, page?: number): Uint8Array | undefined => {
    const op = OP[flags]!;
    const ev = page === undefined ? { at: 'ioctl' as const, op, round, final } : { at: 'ioctl' as const, op, round, final, page };
    emit({ ...ev, when: 'before' });
    const r = port.dirtyPages(flags, range);
    emit({ ...ev, when: 'after' });
    if (r.errno !== 0) throw new Error(`migration: VFIO_IOMMU_DIRTY_PAGES ${op} returned ${r.errno}`);
    return r.bitmap;
  };

  /** One sync over every range: the dirty pages (page IOVAs, in order). */
  const sync = (): number[] => {
    const flags = manual ? VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP_NOCLEAR : VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
    const out: number[] = [];
    for (const { iova, size } of ranges) {
      const bitmap = ioctl(flags, { iova, size, bitmap: { pgsize: PG, size: dirtyBitmapBytes(size / PG) } });
      if (bitmap === undefined) throw new Error(`migration: ${OP[flags]} returned no bitmap`);
      for (const p of dirtyBitmapPages(bitmap, iova)) if (p < iova + size) out.push(p);
    }
    return out;
  };

  /** CLEAR_BITMAP of exactly this page's bit (VFIO-CLEAR-5). */
  const clear = (page: number): void => {
    const data = new Uint8Array(dirtyBitmapBytes(1));
    data[0] = 1;
    ioctl(VFIO_IOMMU_DIRTY_PAGES_FLAG_CLEAR_BITMAP, { iova: page, size: PG, bitmap: { pgsize: PG, size: data.length, data } }, page);
    clears++;
  };

  const copy = (page: number): void => {
    emit({ at: 'copy', when: 'before', page, round, final });
    port.writeDestination(page, port.readSource(page));
    emit({ at: 'copy', when: 'after', page, round, final });
  };

  /** Sends `pages`; `seen` are the pages the last sync reported (the only ones manual clear clears). */
  const send = (pages: readonly number[], seen: ReadonlySet<number>): number => {
    for (const page of pages) {
      emit({ at: 'page', page, round, final });
      const clearIt = manual && seen.has(page);
      if (clearIt && clearOrder === 'before-copy') clear(page);
      copy(page);
      if (clearIt && clearOrder === 'after-copy') clear(page);
    }
    return pages.length;
  };

  if (manual && port.checkExtension(VFIO_DIRTY_LOG_MANUAL_CLEAR) !== 1) throw new Error('migration: the container does not offer VFIO_DIRTY_LOG_MANUAL_CLEAR');
  ioctl(VFIO_IOMMU_DIRTY_PAGES_FLAG_START);

  const perRound: number[] = [];
  for (;;) {
    const reported = sync();
    const seen = new Set(reported);
    let pages = reported;
    if (round === 0) {
      pages = [];
      for (const { iova, size } of ranges) for (let p = iova; p < iova + size; p += PG) pages.push(p);
    }
    const sent = send(pages, seen);
    perRound.push(sent);
    emit({ at: 'round-end', round, sent, final });
    round++;
    if (sent < threshold || round >= maxRounds) break;
  }

  // Stop and copy: nothing writes any more; one last sync catches everything owed.
  port.stopDevice();
  final = true;
  const last = sync();
  const finalSent = send(last, new Set(last));
  emit({ at: 'round-end', round, sent: finalSent, final });
  ioctl(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP);

  for (const { iova, size } of ranges) {
    for (let p = iova; p < iova + size; p += PG) {
      const src = port.readSource(p);
      const dst = port.readDestination(p);
      if (src !== dst) throw new MigrationMismatch(p, src, dst);
    }
  }
  return { pagesSent: perRound.reduce((a, b) => a + b, 0) + finalSent, perRound, finalSent, clears };
}
