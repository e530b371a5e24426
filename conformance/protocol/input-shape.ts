// A trace's sequence input (already decoded by trace-input.ts) must have the shape the
// engine generates for its profile before the engine runs it: otherwise a malformed trace
// would surface as an exception blamed on the implementation. Returns what is wrong, with
// its path, or undefined.

export type Rule = 'int' | 'bool' | 'big' | 'intArray' | readonly (string | number)[] | { readonly shape: Shape; readonly optional?: readonly string[] } | { readonly arrayOf: readonly string[] };
export type Shape = Readonly<Record<string, Rule>>;

function check(value: unknown, rule: Rule, path: string): string | undefined {
  if (typeof rule === 'object' && 'shape' in rule) return object(value, rule.shape, path, rule.optional);
  if (typeof rule === 'object' && 'arrayOf' in rule) {
    if (!Array.isArray(value) || value.length > 64) return `${path} must be an array (at most 64) of ${rule.arrayOf.join(', ')}`;
    const bad = value.findIndex((v) => !rule.arrayOf.includes(v as string));
    return bad < 0 ? undefined : `${path}/${bad} must be one of ${rule.arrayOf.join(', ')}`;
  }
  if (Array.isArray(rule)) return (rule as readonly unknown[]).includes(value) ? undefined : `${path} must be one of ${rule.join(', ')}`;
  switch (rule) {
    case 'int':
      return Number.isSafeInteger(value) ? undefined : `${path} must be an integer`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `${path} must be true or false`;
    case 'big':
      return typeof value === 'bigint' ? undefined : `${path} must be a {"bigint": "..."}`;
    case 'intArray':
      return Array.isArray(value) && value.length <= 1 << 20 && value.every((v) => Number.isSafeInteger(v)) ? undefined : `${path} must be an array of integers`;
  }
  return `${path}: no rule`;
}

/** `value` is an object with exactly the fields of `shape` (those in `optional` may be absent), each by its rule. */
export function object(value: unknown, shape: Shape, path: string, optional: readonly string[] = []): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${path} must be an object`;
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!Object.hasOwn(shape, k)) return `${path} has a field ${JSON.stringify(k)} this profile's input does not have`;
  for (const [k, rule] of Object.entries(shape)) {
    if (!(k in o)) {
      if (optional.includes(k)) continue;
      return `${path} lacks the field ${JSON.stringify(k)}`;
    }
    const p = check(o[k], rule, `${path}/${k}`);
    if (p !== undefined) return p;
  }
  return undefined;
}

function list(value: unknown, path: string, each: (v: unknown, path: string) => string | undefined): string | undefined {
  if (!Array.isArray(value)) return `${path} must be an array`;
  if (value.length > 100_000) return `${path} has ${value.length} entries, more than a run ever generates`;
  for (const [i, v] of value.entries()) {
    const p = each(v, `${path}/${i}`);
    if (p !== undefined) return p;
  }
  return undefined;
}

const VFIO_BITMAP = ['ok', 'extra', 'short', 'zero', 'fixed8', 'tooLarge', 'pgsize8k', 'pgsize2m', 'pgsize0'];
const VFIO_RANGE = ['ok', 'unaligned', 'sizeZero', 'sizeUnaligned', 'wrap', 'mapping', 'bisect', 'span'];
const VFIO_OPS: Record<string, Shape> = {
  map: { k: 'int', page: 'int', pages: 'int', flags: 'int', vaddr: ['ok', 'unaligned', 'notBacked', 'wrap'], range: ['ok', 'unaligned', 'sizeZero', 'wrap', 'outside', 'huge'] },
  unmap: { k: 'int', page: 'int', pages: 'int', flags: 'int', bitmap: VFIO_BITMAP, range: VFIO_RANGE },
  dma: { k: 'int', pick: 'int', mapped: 'bool', offset: 'int' },
  dirty: { k: 'int', flags: 'int' },
  bitmap: { k: 'int', flags: 'int', page: 'int', pages: 'int', bitmap: VFIO_BITMAP, range: VFIO_RANGE, bits: 'intArray', allBits: 'bool' },
  ext: { k: 'int', extension: 'int' },
  info: { k: 'int' },
  block: { k: 'int', at: 'int', flags: 'int' },
  limit: { k: 'int', pages: ['max', 'over'] },
  // omit: the calls after the writes that shrinking left out, a bit each (vfio-type1-profile.ts ROUND_PARTS, engine/omittable.ts).
  round: { k: 'int', pick: 'int', writes: 'intArray', bits: 'intArray', last: 'int', read: 'int', omit: Array.from({ length: 16 }, (_, i) => i) },
  rw: { k: 'int', shape: ['straddle', 'pages', 'edge', 'window', 'zero'], pick: 'int', extra: 'int', write: 'bool', neighbour: 'int' },
  vaddr: { k: 'int', target: ['mapping', 'range'], page: 'int', pages: 'int' },
  group: { k: 'int', attach: 'bool' },
};

/** The fields of VFIO_OPS an operation may lack: a round has `omit` only once shrinking left a call out. */
const VFIO_OPTIONAL: Readonly<Record<string, readonly string[]>> = { round: ['omit'] };

function fieldsOnly(value: unknown, allowed: readonly string[], path: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${path} must be an object`;
  for (const k of Object.keys(value)) if (!allowed.includes(k)) return `${path} has a field ${JSON.stringify(k)} this profile's input does not have`;
  for (const k of allowed) if (!(k in value)) return `${path} lacks the field ${JSON.stringify(k)}`;
  return undefined;
}

/** What is wrong with a decoded smmu-hw or smmu-driver sequence input, or undefined. Commands were checked as they were decoded. */
export function smmuInputProblem(input: unknown, isCommand: (c: unknown) => boolean): string | undefined {
  const o = input as { config: unknown; commands: unknown };
  return (
    fieldsOnly(input, ['config', 'commands'], 'input') ??
    object(o.config, { httu: [0, 1, 2], bbml: [0, 2], iotlbCapacity: 'int', dirtyCapable: 'bool', pageGranular: 'bool', startTracking: 'bool' }, 'input/config') ??
    list(o.commands, 'input/commands', (c, path) => (isCommand(c) ? undefined : `${path} must be a {"command": ...}`))
  );
}

/** What is wrong with a decoded iova-bitmap scenario, or undefined. */
export function iovaBitmapInputProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'input must be an object';
  const { unpinnable, walk, ...rest } = input as { args: unknown; sets: unknown; bufferSize: unknown; unpinnable?: unknown; walk?: unknown };
  const o = rest;
  return (
    fieldsOnly(rest, ['args', 'bufferSize', 'sets'], 'input') ??
    (unpinnable === undefined ? undefined : check(unpinnable, 'intArray', 'input/unpinnable')) ??
    (walk === undefined ? undefined : object(walk, { stopAt: 'int', record: [0, 1, 2, 3, 4] }, 'input/walk')) ??
    object(o.args, { iova: 'big', length: 'big', pageSize: 'big', offset: 'int', bitmapSize: 'int', maxPinnedPages: 'int' }, 'input/args') ??
    (Number.isSafeInteger(o.bufferSize) && (o.bufferSize as number) >= 0 && (o.bufferSize as number) <= 1 << 30 ? undefined : 'input/bufferSize must be an integer from 0 to 2^30') ??
    list(o.sets, 'input/sets', (x, path) => object(x, { iova: 'big', length: 'big' }, path))
  );
}

/** What is wrong with a decoded vfio-type1 scenario, or undefined. */
export function vfioType1InputProblem(input: unknown): string | undefined {
  const o = input as { config: unknown; ops: unknown };
  return (
    fieldsOnly(input, ['config', 'ops'], 'input') ??
    object(o.config, { hwDirty: 'bool', dmaEntryLimit: 'int' }, 'input/config', ['dmaEntryLimit']) ??
    list(o.ops, 'input/ops', (op, path) => {
      const kind = (op as { k?: unknown } | null)?.k;
      const shape = typeof kind === 'string' && Object.hasOwn(VFIO_OPS, kind) ? VFIO_OPS[kind] : undefined;
      if (shape === undefined) return `${path}/k must be one of ${Object.keys(VFIO_OPS).join(', ')}`;
      return object(op, { ...shape, k: [kind as string] }, path, VFIO_OPTIONAL[kind as string]);
    })
  );
}
