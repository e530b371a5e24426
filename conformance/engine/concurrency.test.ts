// No run shares mutable state with another: coverage, checked requirements and the
// compiled tables' use live in a RunContext per run (model/run-context.ts), and the watch a
// watched worker publishes its calls to is a value in the run's options (call-watch.ts), so
// the profiles run at once in one process give the same reports as one after another.
// (scripts/module-state.test.ts keeps module-level mutable state out of the engine's sources.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceAdapters } from '../adapters/registry.ts';
import { type Adapter, PROFILES, type ProfileName } from '../adapters/types.ts';
import { findMutant } from '../mutants/index.ts';
import { CALL_WATCH_BYTES, CallWatch, overdueMs } from './call-watch.ts';
import { type ProfileResult, runProfile } from './run-profile.ts';

/** A report without its timing. */
const report = (r: ProfileResult) => ({ ...r, seconds: 0 });

test('every profile run concurrently in one process reports exactly what it reports alone', async () => {
  const options = { runs: 150, seed: 4, timeoutMs: 5000, maxCommands: 30 };
  const alone: ProfileResult[] = [];
  for (const p of PROFILES) alone.push(await runProfile(referenceAdapters[p], options));
  const together = await Promise.all(PROFILES.map((p) => runProfile(referenceAdapters[p], options)));
  assert.equal(together.map(report), alone.map(report));
});

test('two runs of one profile at once, one failing and one conforming, keep their own coverage and verdicts', async () => {
  const options = { runs: 300, seed: 9, timeoutMs: 5000, maxCommands: 30 };
  const mutant = findMutant('vfio-clear-whole-range')!;
  const alone = [await runProfile(referenceAdapters['vfio-type1'], options), await runProfile(mutant.adapter, options)];
  const together = await Promise.all([runProfile(referenceAdapters['vfio-type1'], options), runProfile(mutant.adapter, options)]);
  assert.equal(together.map(report), alone.map(report));
  assert.is(together[0]!.verdict, 'conforms');
  assert.is(together[1]!.verdict, 'does-not-conform');
});

/**
 * The reference adapter of `profile`, each call into it (its create, and every method of
 * what create made) looked at as it is made: whether the run's watch then holds a
 * deadline (published), by method.
 */
function observed(profile: ProfileName, buffer: SharedArrayBuffer) {
  const slots = new Int32Array(buffer);
  const seen = { published: 0, unpublished: new Map<string, number>() };
  const note = (name: string) => {
    if (Atomics.load(slots, 0) !== 0) seen.published++;
    else seen.unpublished.set(name, (seen.unpublished.get(name) ?? 0) + 1);
  };
  const watched = (made: unknown): unknown =>
    typeof made !== 'object' || made === null
      ? made
      : new Proxy(made, {
          get(target, key) {
            const v: unknown = Reflect.get(target, key, target);
            if (typeof v !== 'function' || typeof key !== 'string') return v;
            return (...args: unknown[]) => {
              note(key);
              return (v as (...a: unknown[]) => unknown).apply(target, args);
            };
          },
        });
  const reference = referenceAdapters[profile] as Adapter & { create(...args: unknown[]): unknown };
  const adapter = {
    ...reference,
    create: (...args: unknown[]) => {
      note('create');
      const made = reference.create(...args);
      return made instanceof Promise ? made.then(watched) : watched(made);
    },
  } as Adapter;
  return { adapter, seen };
}

/**
 * Calls the engine makes outside any call's limit, so no watch sees them: none. (kvm-dirty-log
 * reads a guest page, the adapter's synchronous inspectPage, when the vCPU writes between
 * calls: it publishes that read itself, conformance/profiles/kvm-dirty-log/profile.ts watched.)
 */
const UNWATCHED: Partial<Record<ProfileName, readonly string[]>> = {};

test("every call a profile's run makes is published to the watch in its own options, whatever runs beside it, and the reports are the unwatched ones", async () => {
  const options = { runs: 30, seed: 5, timeoutMs: 5000, maxCommands: 20 };
  const unwatched: ProfileResult[] = [];
  const alone: number[] = [];
  for (const p of PROFILES) {
    unwatched.push(await runProfile(referenceAdapters[p], options));
    const buffer = new SharedArrayBuffer(CALL_WATCH_BYTES);
    const { adapter, seen } = observed(p, buffer);
    await runProfile(adapter, { ...options, watch: new CallWatch(buffer, Date.now()) });
    alone.push(seen.published);
  }
  const runs = PROFILES.map((p) => {
    const buffer = new SharedArrayBuffer(CALL_WATCH_BYTES);
    const base = Date.now();
    return { p, buffer, base, watch: new CallWatch(buffer, base), ...observed(p, buffer) };
  });
  const together = await Promise.all(runs.map((r) => runProfile(r.adapter, { ...options, watch: r.watch })));
  assert.equal(together.map(report), unwatched.map(report));
  for (const [i, r] of runs.entries()) {
    assert.ok(r.seen.published > 0, `${r.p}: its calls reach its watch`);
    assert.is(r.seen.published, alone[i], `${r.p}: as many calls published as alone`);
    assert.equal([...r.seen.unpublished.keys()], UNWATCHED[r.p] ?? [], `${r.p}: calls made with no deadline published`);
    assert.is(overdueMs(r.buffer, r.base, Date.now() + 3_600_000), 0, `${r.p}: no call left in flight`);
  }
});

test.run();
