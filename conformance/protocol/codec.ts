// How values travel in protocol messages and traces (PROTOCOL.md, "Values"): u64 as
// "0x" hex strings, byte strings as hex pairs, everything else as JSON numbers.

/** A u64 as the protocol writes it: "0x" and lower-case hex digits (two's complement for a negative mask such as ~BIT). */
export function u64ToWire(value: bigint): string {
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
