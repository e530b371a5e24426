// A sequence's input as a trace carries it (schema/trace.json, "sequence"): plain JSON
// with three tags, so that it comes back exactly.
//   {"bigint": "-123"}                      a bigint (decimal)
//   {"bytes": "00ff"}                       a Uint8Array
//   {"command": "MapCommand", ...fields}    one command of an smmu profile's sequence
// Everything else is itself. The smmu profiles' input is {config, commands}; the others'
// is their scenario (see conformance/engine/*-profile.ts).
import { AttachCommand, DmaCommand, InvalidateCommand, MapCommand, MergeCommand, ReadAndClearCommand, RefillCommand, SplitCommand, TrackingCommand, UnmapCommand } from '../engine/commands.ts';
import { EmptyRegionsCommand, StopMergingCommand } from '../engine/aimed.ts';
import {
  MAP_FAULTS,
  MapArgumentsCommand,
  MapAtIovaLimitCommand,
  MapAtOutputLimitCommand,
  MergeArgumentsCommand,
  ReadAndClearArgumentsCommand,
  SplitArgumentsCommand,
  UNMAP_FAULTS,
  UnmapArgumentsCommand,
} from '../engine/argument-commands.ts';
import { KitClearAccessFlagCommand, KitClearWithoutTlbiCommand, KitPgtableCommand, KitSetCdCommand, KitUnmapWithoutTlbiCommand } from '../engine/kit-commands.ts';
import { bytesFromWire, bytesToWire } from './codec.ts';
import { object, type Shape } from './input-shape.ts';

type CommandClass = new (...args: never[]) => object;

const COMMANDS: Record<string, CommandClass> = {
  MapCommand,
  UnmapCommand,
  RefillCommand,
  DmaCommand,
  SplitCommand,
  MergeCommand,
  ReadAndClearCommand,
  InvalidateCommand,
  TrackingCommand,
  AttachCommand,
  KitClearAccessFlagCommand,
  KitSetCdCommand,
  KitClearWithoutTlbiCommand,
  KitUnmapWithoutTlbiCommand,
  KitPgtableCommand,
  MapArgumentsCommand,
  MapAtOutputLimitCommand,
  MapAtIovaLimitCommand,
  UnmapArgumentsCommand,
  ReadAndClearArgumentsCommand,
  SplitArgumentsCommand,
  MergeArgumentsCommand,
  EmptyRegionsCommand,
  StopMergingCommand,
};

/** Each command's fields as the engine generates them; the optional ones may be absent. */
const INJECT: { shape: Shape; optional: readonly string[] } = { shape: { at: 'int', offset: 'int', aimed: 'bool', after: 'bool' }, optional: ['after'] };
const FIELDS: Record<string, { shape: Shape; optional?: readonly string[] }> = {
  MapCommand: { shape: { page: 'int', pages: 'int', write: 'bool', aligned: 'bool' } },
  UnmapCommand: { shape: { page: 'int', pages: 'int', inject: INJECT }, optional: ['inject'] },
  RefillCommand: { shape: { region: 'int', samePa: 'bool', sameWrite: 'bool' } },
  DmaCommand: {
    shape: { write: 'bool', pick: 'int', offset: 'int', stream: 'int', interleave: { shape: { at: 'int', change: ['unmapLeaf', 'splitBlock', 'readAndClear'] } }, fixedIova: 'int', high: 'bool' },
    optional: ['interleave', 'fixedIova', 'high'],
  },
  SplitCommand: { shape: { pick: 'int', inject: INJECT, high: 'bool' }, optional: ['inject', 'high'] },
  MergeCommand: { shape: { region: 'int', inject: INJECT, high: { shape: { level: [1, 2] } } }, optional: ['inject', 'high'] },
  ReadAndClearCommand: { shape: { page: 'int', pages: 'int', noClear: 'bool', inject: INJECT, endingAt: { shape: { pick: 'int', before: 'int' } } }, optional: ['inject', 'endingAt'] },
  InvalidateCommand: { shape: { page: 'int', pages: 'int', all: 'bool' } },
  TrackingCommand: { shape: { enable: 'bool', inject: INJECT }, optional: ['inject'] },
  AttachCommand: { shape: {} },
  KitClearAccessFlagCommand: { shape: { pick: 'int' } },
  KitSetCdCommand: { shape: { ha: 'bool', hd: 'bool' } },
  KitClearWithoutTlbiCommand: { shape: { pick: 'int' } },
  KitUnmapWithoutTlbiCommand: { shape: { pick: 'int' } },
  KitPgtableCommand: { shape: { kind: ['readAndClear', 'markAllDirty'] } },
  MapArgumentsCommand: { shape: { faults: { arrayOf: MAP_FAULTS }, pick: 'int', write: 'bool' } },
  MapAtOutputLimitCommand: { shape: { page: 'int', pages: 'int', write: 'bool' } },
  MapAtIovaLimitCommand: { shape: { pages: 'int', write: 'bool' } },
  UnmapArgumentsCommand: { shape: { fault: UNMAP_FAULTS, pick: 'int' } },
  ReadAndClearArgumentsCommand: { shape: { fault: ['sizeZero', 'crosses', 'past'], pick: 'int', noClear: 'bool' } },
  SplitArgumentsCommand: { shape: { target: ['hole', 'page', 'past'], pick: 'int' } },
  MergeArgumentsCommand: { shape: { target: ['hole', 'block', 'badLevel', 'past'], pick: 'int' } },
  EmptyRegionsCommand: { shape: { region: 'int', regions: 'int' } },
  StopMergingCommand: { shape: {} },
};

/** Whether `value` is a command that decodeInput made. */
export function isCommand(value: unknown): boolean {
  return typeof value === 'object' && value !== null && classNames.has(Object.getPrototypeOf(value) as object);
}

const MAX_DEPTH = 32;

const classNames = new Map<object, string>(Object.entries(COMMANDS).map(([name, cls]) => [cls.prototype as object, name]));

export class TraceInputError extends Error {}

/** `value` as trace JSON. */
export function encodeInput(value: unknown): unknown {
  if (typeof value === 'bigint') return { bigint: value.toString() };
  if (value instanceof Uint8Array) return { bytes: bytesToWire(value) };
  if (Array.isArray(value)) return value.map(encodeInput);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    const command = classNames.get(Object.getPrototypeOf(value) as object);
    if (command !== undefined) out.command = command;
    for (const [k, v] of Object.entries(value)) if (typeof v !== 'function' && v !== undefined) out[k] = encodeInput(v);
    return out;
  }
  return value;
}

/** Trace JSON back to the value; throws TraceInputError naming the path of what it cannot read. */
export function decodeInput(json: unknown, path = 'input', depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new TraceInputError(`${path}: nested deeper than ${MAX_DEPTH} levels, which no input of the kit is`);
  if (Array.isArray(json)) return json.map((v, i) => decodeInput(v, `${path}/${i}`, depth + 1));
  if (typeof json !== 'object' || json === null) return json;
  const o = json as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === 'bigint') {
    if (typeof o.bigint !== 'string' || !/^-?\d+$/.test(o.bigint)) throw new TraceInputError(`${path}/bigint must be a decimal integer string`);
    return BigInt(o.bigint);
  }
  if (keys.length === 1 && keys[0] === 'bytes') {
    if (typeof o.bytes !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(o.bytes)) throw new TraceInputError(`${path}/bytes must be hex pairs`);
    return bytesFromWire(o.bytes);
  }
  const fields: Record<string, unknown> = {};
  for (const k of keys) if (k !== 'command') fields[k] = decodeInput(o[k], `${path}/${k}`, depth + 1);
  if (!('command' in o)) return fields;
  const cls = typeof o.command === 'string' && Object.hasOwn(COMMANDS, o.command) ? COMMANDS[o.command] : undefined;
  if (cls === undefined) throw new TraceInputError(`${path}/command ${JSON.stringify(o.command)} is not a command (one of ${Object.keys(COMMANDS).join(', ')})`);
  const rules = FIELDS[o.command as string]!;
  const problem = object(fields, rules.shape, path, rules.optional);
  if (problem !== undefined) throw new TraceInputError(problem);
  // The command classes keep their arguments as fields: construct, then set them.
  return Object.assign(Reflect.construct(cls, []) as object, fields);
}
