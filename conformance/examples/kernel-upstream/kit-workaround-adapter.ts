// An adapter module (`dirtyspec run --adapter`) around build/libkernel-upstream.so. It was
// written while `--lib` could not run this library as its contract asks; since fd0b822
// `--lib` passes `--contract` and takes a negative errno from dirtyspec_smmu_driver_create
// as the allocation's refusal, so `--lib` is the way to run it. This module still works:
// it loads the library in process with the kit's own C-ABI loader
// (conformance/lib/lib-adapters.ts) and declares contract linux-upstream, and it is what
// the README's 10,000-run figures were measured with.
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
