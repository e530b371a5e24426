// Domain faults: the reference domain (IommuDomain) with one protected step of the
// tracking lifecycle overridden, run as profile smmu-driver on the reference page table.
import { IommuDomain } from '../../impl/domain.ts';
import { CTXDESC_CD_0_TCR_HA, CTXDESC_CD_0_TCR_HD } from '../../impl/smmu/registers.ts';
import { referenceSmmuDriverAdapter, type DomainClass } from '../adapters/reference.ts';
import type { Mutant } from './types.ts';

/** Enabling/disabling tracking changes only the first stream's context descriptor. */
export class TrackingFirstStreamOnlyDomain extends IommuDomain {
  // FAULT (class scope-change): HA/HD go into the CD of the first attached stream only; every
  // other stream of the domain keeps HA=0/HD=0 (writes to clean leaves fault, their
  // dirty state is never set).
  protected override setHaHd(on: boolean): void {
    const bits = CTXDESC_CD_0_TCR_HA | CTXDESC_CD_0_TCR_HD;
    const first = this.streams.slice(0, 1);
    for (const streamId of first) {
      const cd = this.contextDescriptorAddress(streamId)!;
      if (on) this.memory.fetchOr(cd, bits);
      else this.memory.fetchAnd(cd, ~bits);
    }
    this.smmu.submit([...first.map((streamId) => ({ op: 'CMD_CFGI_CD' as const, streamId })), { op: 'CMD_SYNC' }]);
  }
}

/** Enabling tracking does not clear the dirty state leaves had before. */
export class EnableWithoutClearingStaleDomain extends IommuDomain {
  // FAULT (class false-dirty): no read-and-clear on enable: every leaf written (or mapped
  // writable-dirty) before tracking started is reported dirty by the first report.
  protected override clearStaleDirty(): void {}
}

function domainMutant(name: string, bugClass: Mutant['bugClass'], Domain: DomainClass, description: string): Mutant {
  return { name, bugClass, profile: 'smmu-driver', description, adapter: referenceSmmuDriverAdapter(name, Domain) };
}

export const domainMutants: readonly Mutant[] = [
  domainMutant(
    'tracking-first-stream-only',
    'scope-change',
    TrackingFirstStreamOnlyDomain,
    'Enabling tracking sets HA/HD in the CD of the first stream only: DMA by any other stream of the domain faults on clean leaves instead of dirtying them. Class scope-change: the tracking scope misses devices of the domain.',
  ),
  domainMutant(
    'enable-without-clearing-stale',
    'false-dirty',
    EnableWithoutClearingStaleDomain,
    'Enabling tracking does not clear stale dirty state: leaves mapped writable-dirty (or written) before tracking started are reported although nothing wrote them since. Class false-dirty: a precision failure, not a loss.',
  ),
];
