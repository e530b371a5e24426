// A ready-made system for tests, benchmarks and the built-in adapter: memory, an SMMU,
// one domain with streams attached.
import { type DomainOptions, IommuDomain } from './domain.ts';
import { PhysicalMemory } from './memory/physical-memory.ts';
import type { Bbml, Httu } from './smmu/registers.ts';
import { Smmu } from './smmu/smmu.ts';

export interface TestbedOptions {
  readonly httu?: Httu;
  readonly bbml?: Bbml;
  readonly iotlbCapacity?: number;
  readonly dirtyCapable?: boolean;
  readonly pageGranular?: boolean;
  readonly streams?: readonly number[];
  readonly asid?: number;
  /** The domain's lifecycle (DomainOptions.lifecycle; default 'reference'). */
  readonly lifecycle?: DomainOptions['lifecycle'];
}

export interface Testbed {
  readonly memory: PhysicalMemory;
  readonly smmu: Smmu;
  readonly domain: IommuDomain;
}

export function createTestbed(options: TestbedOptions = {}): Testbed {
  const memory = new PhysicalMemory();
  const smmu = new Smmu(memory, { httu: options.httu ?? 2, bbml: options.bbml ?? 2, iotlbCapacity: options.iotlbCapacity ?? 64 });
  const domain = new IommuDomain(smmu, memory, {
    asid: options.asid ?? 1,
    dirtyCapable: options.dirtyCapable ?? true,
    pageGranular: options.pageGranular ?? false,
    ...(options.lifecycle === undefined ? {} : { lifecycle: options.lifecycle }),
  });
  for (const streamId of options.streams ?? [0]) domain.attach(streamId);
  return { memory, smmu, domain };
}
