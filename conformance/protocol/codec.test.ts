import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bytesFromWire, bytesToWire, maskToWire, u64FromWire, u64ToWire } from './codec.ts';

test('a u64 travels as 0x hex and comes back exact, including 2^64 - 1', () => {
  for (const v of [0n, 1n, 0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn]) assert.is(u64FromWire(u64ToWire(v)), v);
  assert.is(u64ToWire(4096n), '0x1000');
});

test('a value the wire cannot carry is an error naming it, never cut to 64 bits: 2^64 and a negative number throw', () => {
  assert.throws(() => u64ToWire(1n << 64n), /0x10000000000000000 is not a u64/);
  assert.throws(() => u64ToWire(-1n), /-0x1 is not a u64/);
});

test("a memory mask from TypeScript (~BIT, a negative bigint) travels as its 64-bit two's complement; wider than 64 bits throws", () => {
  assert.is(maskToWire(~(1n << 7n)), '0xffffffffffffff7f');
  assert.is(maskToWire(0xffff_ffff_ffff_ffffn), '0xffffffffffffffff');
  assert.throws(() => maskToWire(1n << 64n), /mask/);
  assert.throws(() => maskToWire(-(1n << 63n) - 1n), /mask/);
});

test('a byte string travels as hex pairs, byte 0 first', () => {
  const b = new Uint8Array([1, 0, 0xff, 0x80]);
  assert.is(bytesToWire(b), '0100ff80');
  assert.equal([...bytesFromWire('0100ff80')], [...b]);
  assert.is(bytesFromWire('').length, 0);
});

test.run();
