// An adapter module (`dirtyspec run --adapter`) around build/libkernel-upstream.so, for as
// long as `--lib` cannot run this library as its contract asks (README.md, "What the
// kit does with it today"): it loads the library in process with the kit's own C-ABI
// loader (conformance/lib/lib-adapters.ts, as `--lib` does in its child process) and
// changes two things only:
// - it declares contract linux-upstream, which `--lib` does not pass to the engine
//   (conformance/lib/run-lib.ts runChild builds its RunOptions without `contract`);
// - a negative errno from dirtyspec_smmu_driver_create is the refusal it is (Linux
//   iommufd_hwpt_paging_alloc: -EOPNOTSUPP for IOMMU_HWPT_ALLOC_DIRTY_TRACKING without
//   HTTU = 2), answered as the protocol's {"errno": -E}; `--lib` makes any nonzero
//   create undecided (lib-adapters.ts instance()).
// The library is KERNEL_UPSTREAM_LIB, else build/libkernel-upstream.so. A crash of the
// library here ends the kit's process (no child process as under `--lib`).
//
//   npx dirtyspec run --adapter conformance/examples/kernel-upstream/kit-workaround-adapter.ts --profile smmu-driver --runs 2000 --seed 1
import { fileURLToPath } from 'node:url';
import type { SmmuDriverAdapter } from '../../adapters/types.ts';
import { LibPeer } from '../../lib/lib-adapters.ts';

const lib = process.env.KERNEL_UPSTREAM_LIB ?? fileURLToPath(new URL('build/libkernel-upstream.so', import.meta.url));
const peer = LibPeer.load(lib, { timeoutMs: 10_000 });
const inner = peer.adapters().get('smmu-driver') as SmmuDriverAdapter;
const REFUSED = /returned (-\d+): the library could not create an instance/;

const adapter: SmmuDriverAdapter = {
  ...inner,
  contract: 'linux-upstream',
  async create(memory, smmu, config) {
    try {
      return await inner.create(memory, smmu, config);
    } catch (e) {
      const m = REFUSED.exec((e as Error).message);
      if (m !== null) return Number(m[1]);
      throw e;
    }
  },
};

export default [adapter];
