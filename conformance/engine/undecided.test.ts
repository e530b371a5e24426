// An adapter that throws, hangs or answers garbage is "undecided", never a pass.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceIovaBitmapAdapter, referenceSmmuDriverAdapter, referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { IovaBitmapAdapter, SmmuDriver, SmmuDriverAdapter, SmmuHwAdapter } from '../adapters/types.ts';
import { runProfile } from './run-profile.ts';

const options = { runs: 20, seed: 7, timeoutMs: 200, maxCommands: 10 };

/** The reference driver with one method replaced. */
function driverWith(name: string, patch: (d: SmmuDriver) => Partial<SmmuDriver>): SmmuDriverAdapter {
  const ref = referenceSmmuDriverAdapter();
  return {
    profile: 'smmu-driver',
    name,
    async create(memory, smmu, config) {
      const d = await ref.create(memory, smmu, config);
      return { ...d, ...patch(d) };
    },
  };
}

test('an adapter whose readAndClearDirty throws is undecided, with the message', async () => {
  const r = await runProfile(
    driverWith('thrower', () => ({
      readAndClearDirty: async () => {
        throw new Error('boom');
      },
    })),
    options,
  );
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /readAndClearDirty threw: Error: boom/);
});

test('an adapter that never answers is undecided after the time limit', async () => {
  const started = Date.now();
  const r = await runProfile(
    driverWith('hang', () => ({ setDirtyTracking: () => new Promise<number>(() => {}) })),
    options,
  );
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /setDirtyTracking did not answer within 200 ms/);
  assert.ok(Date.now() - started < 5000, 'one time-out stops the run');
});

test('a dirty bitmap of the wrong length is undecided, naming the lengths', async () => {
  const r = await runProfile(
    driverWith('short-bitmap', (d) => ({
      async readAndClearDirty(iova, size, flags) {
        const got = await d.readAndClearDirty(iova, size, flags);
        return { errno: got.errno, dirty: got.dirty.subarray(0, Math.max(0, got.dirty.length - 8)) };
      },
    })),
    options,
  );
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /dirty bitmap of \d+ bytes; \d+ pages need exactly \d+ bytes/);
});

test('a non-integer errno and a malformed DMA outcome are undecided', async () => {
  const r = await runProfile(
    driverWith('bad-errno', () => ({ map: async () => 'ok' as unknown as number })),
    options,
  );
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /errno result must be 0 or a negative errno/);
  const ref = referenceSmmuHwAdapter();
  const badHw: SmmuHwAdapter = {
    profile: 'smmu-hw',
    name: 'bad-dma',
    async create(memory, config) {
      const hw = await ref.create(memory, config);
      return { ...hw, dmaWrite: async () => ({ ok: true }) as never };
    },
  };
  const h = await runProfile(badHw, options);
  assert.is(h.verdict, 'undecided');
  assert.match(h.undecided!.message, /pa must be a non-negative integer/);
});

test('[UNMAP-1] an unmap answering a count past 2^53 (a negative errno returned as size_t) does not conform: a wrong count, not a malformed answer', async () => {
  const r = await runProfile(
    driverWith('size_t -ENOENT', (d) => ({
      unmap: async (iova, size) => {
        const got = await d.unmap(iova, size);
        return got.unmapped === 0 ? { ...got, unmapped: 2 ** 64 - 2 } : got;
      },
    })),
    { ...options, runs: 200 },
  );
  assert.is(r.verdict, 'does-not-conform', JSON.stringify(r.undecided));
  assert.ok(r.counterexample!.violation.req.includes('UNMAP-1'), `${r.counterexample!.violation.expected}; got ${r.counterexample!.violation.actual}`);
});

test('an adapter whose create throws is undecided', async () => {
  const r = await runProfile(
    {
      profile: 'smmu-driver',
      name: 'no-create',
      create: async () => {
        throw new TypeError('nope');
      },
    },
    options,
  );
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /create threw: TypeError: nope/);
});

// An undecided run is shrunk like a failure and printed with its replay command, when the
// shrunk sequence is undecided again for the same reason.
test('an undecided smmu run is shrunk, and its replay path gives the same undecided steps again', async () => {
  // Throws only on a report of more than 8 pages: the shrunk sequence is short and needs one.
  const thrower = driverWith('big-report-thrower', (d) => ({
    readAndClearDirty: async (iova, size, flags) => {
      if (size > 8 * 4096) throw new Error('too big');
      return d.readAndClearDirty(iova, size, flags);
    },
  }));
  const r = await runProfile(thrower, { ...options, runs: 100, maxCommands: 30 });
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /readAndClearDirty threw: Error: too big/);
  assert.ok(r.replay !== undefined, 'a replay path');
  assert.ok(r.undecided!.steps.length <= 4, `shrunk: ${r.undecided!.steps.map((s) => s.op).join('; ')}`);
  const again = await runProfile(thrower, { ...options, maxCommands: 30, seed: r.replay!.seed, path: r.replay!.path });
  assert.is(again.verdict, 'undecided');
  assert.equal(again.undecided!.steps, r.undecided!.steps);
  assert.equal(again.replay, r.replay);
});

test('an undecided scenario run (iova-bitmap) is shrunk to one set, with a replay path', async () => {
  const ref = referenceIovaBitmapAdapter();
  const thrower: IovaBitmapAdapter = {
    profile: 'iova-bitmap',
    name: 'second-set-thrower',
    async create(buffer, args) {
      const b = await ref.create(buffer, args);
      if (typeof b === 'number') return b;
      return { set: async (iova, length) => (iova > args.iova ? Promise.reject(new Error('set past the start')) : b.set(iova, length)), free: () => b.free() };
    },
  };
  const r = await runProfile(thrower, { ...options, runs: 200 });
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /set threw: Error: set past the start/);
  assert.ok(r.replay !== undefined, 'a replay path');
  assert.ok(r.undecided!.steps.length <= 2, `shrunk: ${r.undecided!.steps.map((s) => s.op).join('; ')}`);
  assert.is(r.commands > 0, true, "the undecided sequence's steps are counted");
  const again = await runProfile(thrower, { ...options, seed: r.replay!.seed, path: r.replay!.path });
  assert.is(again.verdict, 'undecided');
  assert.equal(again.undecided!.steps, r.undecided!.steps);
});

test('an iova-bitmap alloc that throws (a divide error in a port, say) is undecided, and its steps end with that alloc and its arguments', async () => {
  const ref = referenceIovaBitmapAdapter();
  const divides: IovaBitmapAdapter = {
    profile: 'iova-bitmap',
    name: 'alloc-divide-error',
    async create(buffer, args) {
      if (args.pageSize >= 1n << 61n) throw new Error('divide error in iova_bitmap_offset_to_index');
      return ref.create(buffer, args);
    },
  };
  const r = await runProfile(divides, { ...options, runs: 300 });
  assert.is(r.verdict, 'undecided');
  const last = r.undecided!.steps.at(-1);
  assert.ok(last !== undefined, 'the step in flight is shown');
  assert.match(last.op, /^iova_bitmap_alloc\(iova 0x[0-9a-f]+, length 0x[0-9a-f]+, page_size 0x([2-9a-f]|1[0-9a-f])[0-9a-f]{15}\b/);
  assert.match(last.answer, /^no answer: alloc-divide-error create threw: Error: divide error/);
});

test.run();
