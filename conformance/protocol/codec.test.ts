import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bytesFromWire, bytesToWire, u64FromWire, u64ToWire } from './codec.ts';

test('a u64 travels as 0x hex and comes back exact, including 2^64 - 1', () => {
  for (const v of [0n, 1n, 0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn]) assert.is(u64FromWire(u64ToWire(v)), v);
  assert.is(u64ToWire(4096n), '0x1000');
});

test('a byte string travels as hex pairs, byte 0 first', () => {
  const b = new Uint8Array([1, 0, 0xff, 0x80]);
  assert.is(bytesToWire(b), '0100ff80');
  assert.equal([...bytesFromWire('0100ff80')], [...b]);
  assert.is(bytesFromWire('').length, 0);
});

test.run();
