import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as aimed from '../engine/aimed.ts';
import * as argumentCommands from '../engine/argument-commands.ts';
import * as commands from '../engine/commands.ts';
import { DmaCommand, MapCommand } from '../engine/commands.ts';
import * as kitCommands from '../engine/kit-commands.ts';
import { TraceInputError, decodeInput, encodeInput, isCommand } from './trace-input.ts';

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

test('every command class the smmu engine exports can be written to a trace and read back (a trace with one the list lacked could not be checked)', () => {
  const classes = [commands, aimed, argumentCommands, kitCommands].flatMap((m) => Object.entries(m).filter(([, v]) => typeof v === 'function' && typeof (v as { prototype?: { run?: unknown } }).prototype?.run === 'function'));
  assert.ok(classes.length >= 20, `found ${classes.length} command classes`);
  for (const [name, cls] of classes) {
    // Made without arguments: only its class is looked at here (its fields' shapes by the test below and check-trace's).
    const made = Reflect.construct(cls as new () => object, []);
    assert.is((encodeInput(made) as { command?: string }).command, name, `${name} is not in trace-input.ts's COMMANDS`);
  }
});

test('an argument command comes back with its fields; a fault outside the list is a TraceInputError naming it', () => {
  const cmd = new argumentCommands.MapArgumentsCommand(['iovaUnaligned', 'noProt'], 7, true);
  const back = decodeInput(JSON.parse(JSON.stringify(encodeInput(cmd)))) as typeof cmd;
  assert.instance(back, argumentCommands.MapArgumentsCommand);
  assert.ok(isCommand(back));
  assert.equal(back.faults, ['iovaUnaligned', 'noProt']);
  assert.throws(
    () => decodeInput({ command: 'MapArgumentsCommand', faults: ['formatDisk'], pick: 1, write: true }),
    (e: Error) => e instanceof TraceInputError && /input\/faults\/0 must be one of iovaUnaligned/.test(e.message),
  );
});

test('an unknown command or a bad tag is a TraceInputError naming the path', () => {
  assert.throws(
    () => decodeInput({ commands: [{ command: 'FormatDisk' }] }),
    (e: Error) => e instanceof TraceInputError && /input\/commands\/0\/command "FormatDisk" is not a command/.test(e.message),
  );
  assert.throws(() => decodeInput({ a: { bigint: '0x12' } }), /input\/a\/bigint must be a decimal/);
});

test.run();
