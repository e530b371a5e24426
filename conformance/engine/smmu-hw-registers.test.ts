// An SMMU is what its registers say: where it cannot be the configuration the kit asked
// create for (a model without HTTU, as QEMU's is), the run follows SMMU_IDR0.HTTU and
// SMMU_IDR3.BBML, as the kit's driver does, and the rules only the missing feature
// reaches are not reached, never passed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceSmmuHwAdapter } from '../adapters/reference.ts';
import type { SmmuHw, SmmuHwAdapter } from '../adapters/types.ts';
import { runProfile } from './run-profile.ts';

const options = { runs: 150, seed: 3, timeoutMs: 2000, maxCommands: 20 };

/** The reference SMMU, built as `fixed` whatever create is asked for; `registers` may change what it presents. */
function presenting(name: string, fixed: { httu: 0 | 1 | 2; bbml: 0 | 1 | 2 }, registers?: (r: { idr0: number; idr3: number }) => { idr0: number; idr3: number }): SmmuHwAdapter {
  const ref = referenceSmmuHwAdapter();
  return {
    profile: 'smmu-hw',
    name,
    async create(memory, config): Promise<SmmuHw> {
      const hw = await ref.create(memory, { ...config, ...fixed });
      return registers === undefined ? hw : { ...hw, readRegisters: async () => registers(await hw.readRegisters()) };
    },
  };
}

test('an SMMU without HTTU, whatever HTTU create asks for, conforms: the run follows SMMU_IDR0.HTTU, and the HTTU rules are not reached', async () => {
  const r = await runProfile(presenting('no-httu', { httu: 0, bbml: 2 }), options);
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
  const passed = new Set(r.requirements.filter((q) => q.verdict === 'pass').map((q) => q.id));
  for (const id of ['HTTU-1', 'HTTU-2', 'HTTU-5', 'NOLOSS-1']) assert.not.ok(passed.has(id), `${id} passed on an SMMU that never updates a descriptor`);
  assert.ok(r.unreached?.includes('HTTU-2'), `HTTU-2 listed as not reached: ${r.unreached?.join(' ')}`);
  for (const id of ['FAULT-3', 'MAP-1', 'IOTLB-9']) assert.ok(passed.has(id), `${id} checked on it`);
});

test('an SMMU with access-flag updates only (HTTU 1) and BBML 0, asked for anything, conforms', async () => {
  const r = await runProfile(presenting('httu-1-bbml-0', { httu: 1, bbml: 0 }), options);
  assert.is(r.verdict, 'conforms', JSON.stringify(r.counterexample?.violation));
});

test("under linux-upstream, an SMMU without HTTU asked for HTTU 2 gets no CD with HA or HD: the kit's driver is built for the domain the registers allow (not dirty-capable)", async () => {
  const ref = referenceSmmuHwAdapter('reference', undefined, 'linux-upstream');
  const adapter: SmmuHwAdapter = {
    profile: 'smmu-hw',
    name: 'no-httu-checking-cds',
    contract: 'linux-upstream',
    async create(memory, config): Promise<SmmuHw> {
      const hw = await ref.create(memory, { ...config, httu: 0, bbml: 2 });
      const check = (cd: number) => {
        if (((memory.load(cd) >> 42n) & 3n) !== 0n) throw new Error(`a CD with HA/HD on an SMMU without HTTU: 0x${memory.load(cd).toString(16)}`);
      };
      const cds = new Map<number, number>();
      return {
        ...hw,
        attachStream: async (streamId, cd) => {
          cds.set(streamId, cd);
          check(cd);
          return hw.attachStream(streamId, cd);
        },
        submit: async (commands) => {
          for (const c of commands) if (c.op === 'CMD_CFGI_CD') check(cds.get(c.streamId)!);
          return hw.submit(commands);
        },
      };
    },
  };
  const r = await runProfile(adapter, { ...options, runs: 100 });
  assert.is(r.verdict, 'conforms', r.undecided?.message ?? JSON.stringify(r.counterexample?.violation));
});

test('SMMU_IDR0.HTTU = 0b11 (reserved) is undecided, naming the field', async () => {
  const r = await runProfile(
    presenting('reserved-httu', { httu: 2, bbml: 2 }, (x) => ({ ...x, idr0: x.idr0 | (3 << 6) })),
    { ...options, runs: 5 },
  );
  assert.is(r.verdict, 'undecided');
  assert.match(r.undecided!.message, /SMMU_IDR0 = 0x[0-9a-f]+: its HTTU field \(bits 7:6\) is 0b11, a reserved value/);
});

test.run();
