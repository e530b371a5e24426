import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DmaCommand, MapCommand } from '../engine/commands.ts';
import { TraceInputError, decodeInput, encodeInput } from './trace-input.ts';

test('a scenario with bigints and bytes survives the trace exactly', () => {
  const sc = { args: { iova: 0xffff_ffff_ffff_f000n, length: -1n }, data: new Uint8Array([1, 255]), sets: [{ iova: 0n, length: 4096n }] };
  const back = decodeInput(JSON.parse(JSON.stringify(encodeInput(sc)))) as typeof sc;
  assert.equal(back.args, sc.args);
  assert.equal([...back.data], [1, 255]);
  assert.equal(back.sets, sc.sets);
});

test('smmu commands come back as instances of their class with their fields', () => {
  const cmds = [new MapCommand(512, 512, true, true), new DmaCommand(true, 3, 7, 1, { at: 4, change: 'unmapLeaf' })];
  const back = decodeInput(JSON.parse(JSON.stringify(encodeInput(cmds)))) as [MapCommand, DmaCommand];
  assert.instance(back[0], MapCommand);
  assert.is(String(back[0]), String(cmds[0]));
  assert.instance(back[1], DmaCommand);
  assert.equal(back[1].interleave, { at: 4, change: 'unmapLeaf' });
  assert.is(String(back[1]), String(cmds[1]));
});

test('an unknown command or a bad tag is a TraceInputError naming the path', () => {
  assert.throws(
    () => decodeInput({ commands: [{ command: 'FormatDisk' }] }),
    (e: Error) => e instanceof TraceInputError && /input\/commands\/0\/command "FormatDisk" is not a command/.test(e.message),
  );
  assert.throws(() => decodeInput({ a: { bigint: '0x12' } }), /input\/a\/bigint must be a decimal/);
});

test.run();
