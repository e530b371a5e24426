// How values travel in protocol messages and traces (PROTOCOL.md, "Values"): u64 as
// "0x" hex strings, byte strings as hex pairs, everything else as JSON numbers.

const U64_END = 1n << 64n;

const hexOf = (value: bigint) => (value < 0n ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`);

/**
 * A u64 as the protocol writes it: "0x" and lower-case hex digits. A value outside
 * [0, 2^64) is an error (a bug in whatever produced it), never cut to 64 bits: a report
 * must show what the wire carried.
 */
export function u64ToWire(value: bigint): string {
  if (value < 0n || value >= U64_END) throw new RangeError(`u64ToWire: ${hexOf(value)} is not a u64 (must be in [0, 2^64)), so the wire cannot carry it`);
  return `0x${value.toString(16)}`;
}

/**
 * A 64-bit memory mask or value from TypeScript code, where ~BIT is a negative bigint:
 * its two's complement as a u64. Values in [-2^63, 2^64) only; anything wider throws.
 */
export function maskToWire(value: bigint): string {
  if (value < -(1n << 63n) || value >= U64_END) throw new RangeError(`maskToWire: ${hexOf(value)} is not a 64-bit mask (must be in [-2^63, 2^64))`);
  return `0x${BigInt.asUintN(64, value).toString(16)}`;
}

/** Reads a u64 the schema has already checked ("0x" and 1 to 16 hex digits). */
export function u64FromWire(value: string): bigint {
  return BigInt(value);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function bytesToWire(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

/** Reads a byte string the schema has already checked (an even number of hex digits). */
export function bytesFromWire(text: string): Uint8Array {
  const out = new Uint8Array(text.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
