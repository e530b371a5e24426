// A driver contract as data: which requirements of the catalogue apply (kept, replaced
// by a variant rule, dropped), which operations and behaviours it assumes (capabilities),
// and the ways it loses pages by design when used as it allows (hazards), each with a
// shortest scenario the engine can run.
//
// The contracts are for the SMMU profiles (smmu-driver, smmu-hw), and for vfio-type1, whose
// container must read dirty state before it unmaps where the unmap reports none (UNMAP-R1,
// UNMAP-U3). `strict` is the kit's own contract, the machines in spec/ exactly; the others
// say where a real driver differs and cite the Linux function and version, or the RFC
// patch's message ID.
import type { RequirementId } from '../requirements.ts';

export const CONTRACT_NAMES = ['strict', 'linux-upstream', 'rfc-2021'] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

/** Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h). */
export const ERRNO = { ENOENT: 2, EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19, EINVAL: 22, EOPNOTSUPP: 95 } as const;
export type ErrnoName = keyof typeof ERRNO;

/** A rule of the strict contract that this contract replaces by its own. */
export interface ReplacedRule {
  readonly id: RequirementId;
  readonly by: readonly RequirementId[];
  /** What differs, in one sentence. */
  readonly why: string;
  /** The Linux function and kernel version, or the RFC patch's message ID. */
  readonly source: string;
}

/** A rule of the strict contract that does not apply (the operation does not exist, or nothing does it). */
export interface DroppedRule {
  readonly id: RequirementId;
  readonly why: string;
  readonly source: string;
}

/** A variant rule with no strict counterpart. */
export interface AddedRule {
  readonly id: RequirementId;
  readonly why: string;
  readonly source: string;
}

export interface ContractRules {
  readonly replaced: readonly ReplacedRule[];
  readonly dropped: readonly DroppedRule[];
  readonly added: readonly AddedRule[];
}

/**
 * What the contract assumes of the implementation. The engine sends no operation outside
 * `operations`, creates only configurations the contract accepts, and predicts each
 * answer from these fields together with the rules.
 *
 * A field that says the implementation does not do something (`invalidates: false`,
 * `invalidatesCleared: 'no'`, `reportsDirty: false`, `clearsStale: false`) is what the
 * contract allows, not what it demands: an implementation that invalidates anyway
 * conforms (to the engine an extra invalidation is an eviction, IOTLB-11), and one that
 * reports more is judged by PRECISION-1. Errnos, refusals, HA/HD and leaf states are
 * demands.
 */
export interface Capabilities {
  /** The SmmuDriver operations the implementation has (map, unmap, readAndClearDirty, setDirtyTracking and attach always). */
  readonly operations: {
    readonly splitBlock: boolean;
    readonly mergePages: boolean;
    /** A clear of the leaves a caller's bitmap selects (the RFC's clear_dirty_log); the kit has no such smmu-driver operation yet. */
    readonly clearDirtyByBitmap: boolean;
  };
  readonly create: {
    /** Who decides the HD quirk (DBM on writable leaves): the caller's dirtyCapable flag, or SMMU_IDR0.HTTU alone. */
    readonly hdQuirkFrom: 'config' | 'hardware';
    /** Configurations create refuses, and the errno: a dirty-capable domain without HTTU = 2 (or without IDR0.COHACC). */
    readonly refuses: readonly { readonly when: 'dirtyCapableWithoutHttu2' | 'dirtyCapableWithoutCoherency'; readonly errno: ErrnoName }[];
    /** Whether the page-granular policy (split while tracking) exists. */
    readonly pageGranular: 'optional' | 'never' | 'always';
  };
  /** When a stream's context descriptor has HA and HD. */
  readonly cdHaHd: 'while-tracking' | 'always-if-hd-quirk' | 'always';
  readonly setDirtyTracking: {
    /** The errno of enabling without hardware dirty state (or on a domain without the HD quirk). */
    readonly refusal: ErrnoName;
    readonly enable: {
      readonly setsHaHd: boolean;
      readonly clearsStale: boolean;
      /** A TLBI + CMD_SYNC over the domain before it returns. */
      readonly invalidates: boolean;
      /** Which blocks it splits with the page-granular policy. */
      readonly splits: 'every-block' | 'writable-dirty-blocks' | 'none';
      /** A split that fails is ignored (tracking goes on at block granularity). */
      readonly ignoresSplitFailure: boolean;
    };
    readonly disable: {
      readonly merges: 'what-enable-split' | 'every-contiguous-run' | 'none';
      readonly marksWritableDirty: boolean;
      readonly invalidates: boolean;
      readonly clearsHaHd: boolean;
    };
    readonly enableWhileOn: 'no-op' | 'clears-again' | { readonly errno: ErrnoName };
    /**
     * Tracking is switched per mapping (the caller calls the switch for each vfio_dma with its
     * range): enabling splits a block, and disabling merges a run, only inside one mapping (a
     * map call's range, less what was unmapped since). Absent: over the whole domain.
     */
    readonly perMapping?: boolean;
    /** On a domain without the HD quirk (no dirty ops): the errno both enabling and disabling are refused with; absent: enabling is refused with `refusal`, disabling follows `disableWhileOff`. */
    readonly withoutHdQuirk?: ErrnoName;
    readonly disableWhileOff: 'no-op' | { readonly errno: ErrnoName };
  };
  readonly readAndClear: {
    readonly whenTrackingOff: 'einval' | 'reports';
    /**
     * A writable-dirty leaf partly inside the range: reported for its pages in range and
     * kept dirty; recorded from the walk cursor for its whole size and cleared whole; or,
     * when clearing, the call fails with -EINVAL after clearing the leaves before it.
     */
    readonly partialLeaf: 'report-in-range-keep-dirty' | 'record-from-cursor-clear-whole' | 'einval';
    /** An unmapped entry inside the range. */
    readonly hole: 'skip' | 'einval';
    /** The cleared leaves are invalidated (TLBI + CMD_SYNC) before it returns. */
    readonly invalidatesCleared: 'range' | 'whole-domain' | 'no';
    /** AP[2] is set by an atomic read-modify-write (not a load and a plain store). */
    readonly atomicClear: boolean;
    /** A plain writable leaf (DBM=0, AP[2]=0) is reported dirty too. */
    readonly reportsPlainWritable: boolean;
    /** IOMMU_DIRTY_NO_CLEAR (1 << 0): report without clearing. */
    readonly noClearFlag: boolean;
    /**
     * How a sync-then-clear (`partialLeaf: 'einval'`) reads the range: each leaf once
     * (default), or in the chunks iommu_pgsize picks, where a block the range cuts is read
     * once per page. A DMA write racing such a sync may then tear the block's report: its
     * pages from the chunk the write preceded on are reported, those before are not (the
     * block stays dirty, and the clear fails on it).
     */
    readonly syncChunks?: 'leaves' | 'iommu-pgsize';
    /**
     * On a domain without the HD quirk (allocated without dirty tracking): the errno
     * read-and-clear is refused with, since such a domain has no dirty ops; absent: it
     * is answered as on any domain (reporting nothing, no leaf being dirty).
     */
    readonly withoutHdQuirk?: ErrnoName;
  };
  readonly unmap: {
    /** Unmap returns the dirty state of what it removes (NOLOSS-3). */
    readonly reportsDirty: boolean;
    /**
     * A block the range cuts: split (its pages outside the range stay mapped), refused (the
     * unmap stops there), or either (a contract that holds kernels of both behaviours: the
     * observed bytes say which one ran, each judged by its own rules).
     */
    readonly partialBlock: 'split' | 'refuse' | 'refuse-or-split';
    /**
     * A split of a cut block installs its table with a compare-exchange against the block it
     * read and gives up when the block changed in between (a DMA write dirtied it): that
     * block gets 0 bytes and the unmap stops there.
     */
    readonly splitGivesUpWhenChanged?: boolean;
    readonly hole: 'skip' | 'stop';
    /**
     * How the range is walked: by leaves (default), or in iommu_unmap's chunks (the
     * largest block size the cursor's alignment and the remaining size allow), where a
     * table whose whole span is one chunk is unmapped whole, holes included, and counts
     * its whole span.
     */
    readonly chunks?: 'leaves' | 'iommu-pgsize';
  };
  readonly split:
    | {
        /** The errno without SMMU_IDR3.BBML 1 or 2; undefined: break-before-make when BBML is 0. */
        readonly needsBbml: ErrnoName | undefined;
        readonly applies: 'every-block' | 'writable-dirty-blocks';
        /** What the operation is told: the IOVA (the kit finds the block), or the IOVA and the block size. */
        readonly told: 'iova' | 'iova-and-size';
        /** How the table replaces the live block. */
        readonly swap: 'exchange-and-carry-late-updates' | 'compare-exchange-result-ignored';
      }
    | undefined;
  readonly merge:
    | {
        readonly needsBbml: ErrnoName | undefined;
        readonly told: 'iova-and-level' | 'iova-paddr-size-prot';
        /** Merging where a block (or a leaf above) already is. */
        readonly ofLeaf: 'error' | 'success';
        /** Merging where nothing is mapped. */
        readonly ofNothing: { readonly errno: ErrnoName | 'any' };
        /** The block's state: carried from the pages (MERGE-1/2), or built from the mapping's prot. */
        readonly result: 'carry-pages' | 'from-prot';
        /** The 512 pages are checked for contiguous output addresses and equal attributes. */
        readonly checksPages: boolean;
      }
    | undefined;
}

/** One step of a hazard's scenario, in the engine's vocabulary (addresses inside its 8 MiB window). */
export type HazardStep =
  | { readonly op: 'create'; readonly httu: 0 | 1 | 2; readonly bbml: 0 | 1 | 2; readonly dirtyCapable: boolean; readonly pageGranular: boolean }
  | { readonly op: 'attach'; readonly stream: number }
  | { readonly op: 'setDirtyTracking'; readonly enable: boolean }
  | { readonly op: 'map'; readonly iova: number; readonly size: number; readonly write: boolean; readonly pa: 'block-aligned' | 'page-aligned' }
  | { readonly op: 'dmaWrite'; readonly iova: number; readonly stream: number }
  | { readonly op: 'readAndClearDirty'; readonly iova: number; readonly size: number; readonly noClear: boolean }
  | { readonly op: 'unmap'; readonly iova: number; readonly size: number }
  | { readonly op: 'splitBlock'; readonly iova: number }
  | { readonly op: 'mergePages'; readonly iova: number; readonly level: 1 | 2 };

export interface Hazard {
  /** `H-U1`, `H-R2`: unique across contracts. */
  readonly id: string;
  readonly title: string;
  /**
   * design: the contract loses the page by its own rules; caller-obligation: the contract
   * puts the burden on its caller, and a caller that misses it loses the page;
   * defect: the reference driver's code does it, against what its own layer intends.
   */
  readonly nature: 'design' | 'caller-obligation' | 'defect';
  readonly effect: 'lost-write' | 'false-dirty';
  /** The requirements it relates to (the strict rule it escapes, the variant rule that allows it). */
  readonly req: readonly RequirementId[];
  readonly source: string;
  /** The shortest scenario: a write owed while tracking that a later report or unmap does not return. */
  readonly steps: readonly HazardStep[];
  /** The step (0-based) whose report or unmap misses the pages, and the pages (IOVAs). */
  readonly misses: { readonly atStep: number; readonly pages: readonly number[] };
  readonly why: string;
}

export interface Contract {
  readonly name: ContractName;
  readonly title: string;
  readonly summary: string;
  /** What was read to write it: kernel versions, patch series. */
  readonly basis: string;
  /**
   * The profiles checked under it: the smmu ones, and vfio-type1 where the contract changes
   * what the container must do around the IOMMU (its unmap reports no dirty state, so
   * UNMAP_DMA reads before unmapping: rfc-2021's UNMAP-R1, linux-upstream's UNMAP-U3).
   */
  readonly profiles: readonly ('smmu-driver' | 'smmu-hw' | 'vfio-type1')[];
  readonly rules: ContractRules;
  readonly capabilities: Capabilities;
  readonly hazards: readonly Hazard[];
}
