// A block of an in-process --adapter module that a call did not come back from (pool.ts:
// a worker stopped inside a call, or one that died; or a call whose promise never settled,
// which the engine's own timer ended: campaign.ts) runs again here, against
// the same module served over the protocol by a process of its own (`dirtyspec run
// --adapter M` with DIRTYSPEC_MODULE_SERVE=1). There a call that does not return costs
// the process, not the kit: the engine's crash handling confirms the hang in a fresh
// process, shrinks it with a fresh process per attempt, and judges the call in flight by
// the requirements that cover it (engine/crash.ts), as for --exec and --lib. The
// verdict is that run's when the hang came back; otherwise the block stays undecided.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAdapters } from '../adapters/registry.ts';
import type { Adapter, ContractName, IovaBitmapContractName, ProfileName } from '../adapters/types.ts';

/** The contract an adapter declares (the smmu, vfio-type1 and iova-bitmap profiles have one). */
export type DeclaredContract = ContractName | IovaBitmapContractName;
import type { ProfileResult, RunOptions } from '../engine/run-profile.ts';
import { execAdapters } from '../protocol/exec-adapters.ts';
import { ExecPeer } from '../protocol/peer.ts';
import { serve } from '../protocol/serve.ts';
import { shellQuote } from '../report/common.ts';
import type { Unit } from './plan.ts';
import { runProfileSafely, unitOptions, type CampaignSettings } from './run-unit.ts';

/** Set in the process that serves an --adapter module over the protocol. */
export const MODULE_SERVE_ENV = 'DIRTYSPEC_MODULE_SERVE';
/** The least time limit of a call over the protocol (each memory access is a round trip there): a call that took most of a short limit in process may need more. */
const CONFIRM_MIN_TIMEOUT_MS = 500;

const CLI = fileURLToPath(new URL('../../bin/dirtyspec.js', import.meta.url));

/** The module's adapters served over the protocol on standard input and output, until bye or end of input. */
export async function serveModule(path: string): Promise<number> {
  const adapters = [...(await loadAdapters(path)).values()];
  await serve(adapters, adapters[0]?.name ?? path);
  return 0;
}

/**
 * Block `unit` of the campaign again, against module `path` served by a process of its
 * own, under the contract its adapter declares (`declared`): the result when the run was not a pass (the hang came back: a failure, or
 * undecided with the call in flight named), else undefined.
 */
export async function confirmHang(path: string, unit: Unit, settings: CampaignSettings, declared?: DeclaredContract): Promise<ProfileResult | undefined> {
  const timeoutMs = Math.max(settings.timeoutMs, CONFIRM_MIN_TIMEOUT_MS);
  const command = `${MODULE_SERVE_ENV}=1 ${[process.execPath, CLI, 'run', '--adapter', resolve(path)].map(shellQuote).join(' ')}`;
  const result = await runServed(command, unit.profile, unitOptions(unit, { ...settings, timeoutMs }), declared);
  return result?.verdict === 'conforms' ? undefined : result;
}

/**
 * Profile `profile` run with `options` against the implementation `command` serves over
 * the protocol (started afresh whenever it dies, as for --exec); undefined when it does not
 * start or does not offer the profile. Confirms a crash or hang seen in process (here, and
 * --lib's in lib/run-lib.ts).
 */
export async function runServed(command: string, profile: ProfileName, options: RunOptions & { seed: number }, declared?: DeclaredContract): Promise<ProfileResult | undefined> {
  let peer: ExecPeer;
  try {
    peer = await ExecPeer.start(command, { timeoutMs: options.timeoutMs });
  } catch {
    return undefined; // it does not even start: nothing to confirm with
  }
  try {
    const served = execAdapters(peer).get(profile);
    // The contract the module's adapter declares (the protocol's hello has no field for it): the
    // confirmation judges the block by the rules the run in process judged it by.
    const adapter = served === undefined || declared === undefined ? served : ({ ...served, contract: declared } as Adapter);
    return adapter === undefined ? undefined : await runProfileSafely(adapter, options, { err: () => {} });
  } finally {
    await peer.close();
  }
}
