// The iova-bitmap profile's contracts as data: who checks what. Linux's iova_bitmap_alloc
// and iova_bitmap_set check nothing and report nothing; their callers do the checks
// (iommufd_check_iova_range, VFIO's verify_bitmap_size) and promise every recording lies
// inside the bitmap's range. So under `linux` those rules are caller obligations: the kit
// (the caller) keeps them, never sends what they forbid, and expects no result from set.
// `hardened` is the kit's own contract: the window code checks its arguments itself and
// answers with the errnos of spec/iova-bitmap/rules.ts (today's rules, the default).
//
// Sources: Linux v6.18 drivers/iommu/iommufd/iova_bitmap.c (iova_bitmap_alloc,
// iova_bitmap_set, iova_bitmap_advance_to, iova_bitmap_for_each: their shape since
// 53e6b65693b6 "iommufd/iova_bitmap: Remove iterator logic", v6.11);
// drivers/iommu/iommufd/io_pagetable.c iommufd_check_iova_range;
// drivers/vfio/vfio_iommu_type1.c verify_bitmap_size.

export const IOVA_BITMAP_CONTRACT_NAMES = ['hardened', 'linux'] as const;
export type IovaBitmapContractName = (typeof IOVA_BITMAP_CONTRACT_NAMES)[number];

/** A rule whose check Linux leaves to the caller: the kit, as caller, keeps it and never sends what it forbids. */
export interface CallerObligation {
  readonly id: 'IOVA-BITMAP-1' | 'IOVA-BITMAP-4' | 'IOVA-BITMAP-5' | 'IOVA-BITMAP-6' | 'IOVA-BITMAP-9';
  /** What the caller must do, in one sentence. */
  readonly obligation: string;
  /** Where Linux does the check, or says nothing is checked. */
  readonly source: string;
}

/** A way the contract loses a recording by design, when the caller does what it allows. */
export interface IovaBitmapHazard {
  readonly id: string;
  readonly title: string;
  readonly req: readonly string[];
  readonly source: string;
}

export interface IovaBitmapContract {
  readonly name: IovaBitmapContractName;
  readonly summary: string;
  /** iova_bitmap_alloc refuses bad arguments with an errno (IOVA-BITMAP-1, -4, -5): the kit sends them. */
  readonly allocChecks: boolean;
  /** iova_bitmap_set answers 0 or a negative errno ('errno'), or nothing ('none': Linux's void; 0 or no value accepted). */
  readonly setResult: 'errno' | 'none';
  /** The kit sends recordings that reach outside [iova, iova + length), or are empty (IOVA-BITMAP-9, -5). */
  readonly setOutsideRange: boolean;
  /** The kit offers user pages that cannot be pinned (IOVA-BITMAP-6's -EFAULT): only where a failed pin can be reported. */
  readonly unpinnablePages: boolean;
  /** iova_bitmap_for_each returns the first recording error when the callback returned 0 (else only the callback's result). */
  readonly forEachReportsRecordingErrors: boolean;
  /**
   * iova_bitmap_for_each leaves no user page pinned when it returns (IOVA-BITMAP-10's last
   * clause). Linux's does not: the window stays pinned until iova_bitmap_free, which the
   * caller calls right after the walk; only the pin budget and the unpinning at free hold.
   */
  readonly walkUnpins: boolean;
  readonly callerObligations: readonly CallerObligation[];
  readonly hazards: readonly IovaBitmapHazard[];
}

const IOVA_BITMAP_C = 'Linux v6.18 drivers/iommu/iommufd/iova_bitmap.c';

export const hardened: IovaBitmapContract = {
  name: 'hardened',
  summary: 'the window code checks its own arguments: alloc refuses bad ones, set answers -EINVAL for what lies outside the bitmap (recording the part inside) and -EFAULT for a page it cannot pin',
  allocChecks: true,
  setResult: 'errno',
  setOutsideRange: true,
  unpinnablePages: true,
  forEachReportsRecordingErrors: true,
  walkUnpins: true,
  callerObligations: [],
  hazards: [],
};

export const linux: IovaBitmapContract = {
  name: 'linux',
  summary: "Linux's: iova_bitmap_alloc checks nothing, iova_bitmap_set returns nothing and does not clip at the range's end; the caller checks the arguments and records only inside [iova, iova + length)",
  allocChecks: false,
  setResult: 'none',
  setOutsideRange: false,
  unpinnablePages: false,
  forEachReportsRecordingErrors: false,
  // v6.18 iova_bitmap_for_each is fn(bitmap, bitmap->iova, bitmap->length, opaque): the
  // window iova_bitmap_set pinned stays pinned (unpinned by iova_bitmap_put in
  // iova_bitmap_free); v6.1 drivers/vfio/iova_bitmap.c iova_bitmap_for_each also returned
  // with its window pinned when the callback stopped the walk. The caller frees the bitmap
  // after the walk (drivers/iommu/iommufd/io_pagetable.c iommu_read_and_clear_dirty).
  walkUnpins: false,
  callerObligations: [
    {
      id: 'IOVA-BITMAP-1',
      obligation: 'the caller passes a page size that is a power of two from 4 KiB to 2^63',
      source: `${IOVA_BITMAP_C} iova_bitmap_alloc (pgshift = __ffs(page_size), no check); drivers/vfio/vfio_main.c vfio_ioctl_device_feature_logging_report (page_size below 4 KiB or not a power of two is -EINVAL). iommufd's caller does not keep it: drivers/iommu/iommufd/io_pagetable.c iommufd_check_iova_range refuses page_size 0 and an iova or end with bits of page_size - 1 set (a mask, not a division), so page size 0x3000 reaches iova_bitmap_alloc as 4 KiB (__ffs)`,
    },
    {
      id: 'IOVA-BITMAP-4',
      obligation: 'the caller passes a bitmap of at least ALIGN(npages, 64) / 8 bytes',
      source: `${IOVA_BITMAP_C} iova_bitmap_alloc (no size argument); Linux v6.18 drivers/vfio/vfio_iommu_type1.c verify_bitmap_size`,
    },
    {
      id: 'IOVA-BITMAP-5',
      obligation:
        'the caller passes iova and length that are page_size multiples, length not 0, iova + length - 1 not past 2^64 - 1; and records no empty range, and none that spans two pages without starting and ending on page boundaries (what it records is a whole naturally aligned IOPTE or tracked page: inside one page, or whole pages)',
      source: `${IOVA_BITMAP_C} iova_bitmap_alloc, iova_bitmap_set (no checks; a recording past the pinned pages goes on at iova += length - left, which for an unaligned one is not the next page's start: across a window edge it pins the same window again, forever); drivers/iommu/iommufd/io_pagetable.c iommufd_check_iova_range; include/linux/iommu.h iommu_dirty_bitmap_record, called with whole IOPTEs (drivers/iommu/io-pgtable-arm.c, intel/iommu.c, amd/io_pgtable.c)`,
    },
    {
      id: 'IOVA-BITMAP-9',
      obligation: 'the caller records only inside [iova, iova + length): iova_bitmap_set does not clip a range that runs past the end (it sets bits up to the end of the pinned pages) and silently records nothing from a start outside',
      source: `${IOVA_BITMAP_C} iova_bitmap_set (void; cur_bit..last_bit written within the pinned pages), iova_bitmap_advance_to (-EINVAL past mapped_total_index, dropped by iova_bitmap_set)`,
    },
    {
      id: 'IOVA-BITMAP-6',
      obligation: 'the caller passes a bitmap whose user pages can all be pinned: a pin that fails inside iova_bitmap_set is not reported',
      source: `${IOVA_BITMAP_C} iova_bitmap_set ("if (iova_bitmap_advance_to(bitmap, iova)) return;")`,
    },
  ],
  hazards: [
    {
      id: 'H-IOVA-BITMAP-1',
      title: "a bitmap page that cannot be pinned loses the recordings that need it, and nobody is told: iova_bitmap_set returns nothing and iova_bitmap_for_each returns only the callback's result",
      req: ['IOVA-BITMAP-6', 'IOVA-BITMAP-2'],
      source: `${IOVA_BITMAP_C} iova_bitmap_set, iova_bitmap_for_each`,
    },
    {
      id: 'H-IOVA-BITMAP-2',
      title: "a recording that runs past the range's end sets bits past the bitmap's last page bit, up to the end of the pinned user page: the user's memory after the bitmap changes",
      req: ['IOVA-BITMAP-9'],
      source: `${IOVA_BITMAP_C} iova_bitmap_set`,
    },
  ],
};

export const iovaBitmapContracts: Readonly<Record<IovaBitmapContractName, IovaBitmapContract>> = { hardened, linux };

export function isIovaBitmapContractName(name: string): name is IovaBitmapContractName {
  return (IOVA_BITMAP_CONTRACT_NAMES as readonly string[]).includes(name);
}

/** The contract called `name`; a clear error naming the known ones otherwise. */
export function iovaBitmapContractByName(name: string): IovaBitmapContract {
  if (!isIovaBitmapContractName(name)) throw new RangeError(`iova-bitmap contract: must be one of ${IOVA_BITMAP_CONTRACT_NAMES.join(', ')}, got ${JSON.stringify(name)}`);
  return iovaBitmapContracts[name];
}
