// Two variants of the reference container's vfio_dma_rw (impl/vfio/type1-container.ts) for
// conformance/engine/vfio-type1-rw.test.ts, here because conformance/ reaches impl/ only
// through the reference adapter and this folder: one a legitimate order of the work that
// must conform (VFIO-RW-4 lets an implementation check a whole access before copying), one
// faulty (pages past a refusal dirtied, charged to VFIO-RW-4). Neither is in the zoo.
import { VfioType1Container } from '../../impl/vfio/type1-container.ts';

/** Checks the whole access first (mapping and permission of every chunk): a refused access copies nothing. */
export class CheckFirstContainer extends VfioType1Container {
  override dmaRw(iova: number, length: number, write: boolean): { errno: number; copied: number } {
    for (let at = iova; length > 0 && at < iova + length; ) {
      const d = this.mappings.find((m) => at >= m.iova && at < m.iova + m.size);
      if (d === undefined) return { errno: -22, copied: 0 };
      if ((write && (d.prot & 2) === 0) || (d.prot & 1) === 0) return { errno: -1, copied: 0 };
      at = d.iova + d.size;
    }
    return super.dmaRw(iova, length, write);
  }
}

/** After a refused write, dirties the rest of the access as if it had been copied: pages at and past the refusal end up dirty, though never written. */
export class DirtiesPastRefusalContainer extends VfioType1Container {
  private ahead = false;
  protected override rwPermitted(prot: number, write: boolean): boolean {
    return this.ahead || super.rwPermitted(prot, write);
  }
  override dmaRw(iova: number, length: number, write: boolean): { errno: number; copied: number } {
    const r = super.dmaRw(iova, length, write);
    if (!write || r.errno === 0) return r;
    this.ahead = true;
    try {
      for (const d of this.mappings) {
        const from = Math.max(iova + r.copied, d.iova);
        const to = Math.min(iova + length, d.iova + d.size);
        if (from < to) super.dmaRw(from, to - from, true);
      }
    } finally {
      this.ahead = false;
    }
    return r;
  }
}
