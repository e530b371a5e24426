// The protocol's JSON Schemas (schema/protocol.json), compiled once with ajv. The kit
// validates every message an implementation sends, and every line of a trace, against
// them before anything else reads it; a message that breaks them names the field and
// the rule.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv';

const schemaUrl = new URL('./schema/protocol.json', import.meta.url);
const traceSchemaUrl = new URL('./schema/trace.json', import.meta.url);
const protocol = JSON.parse(readFileSync(schemaUrl, 'utf8')) as { $id: string; definitions: Record<string, unknown> };
const trace = JSON.parse(readFileSync(traceSchemaUrl, 'utf8')) as { $id: string };

// ajv and the compiled schemas are loaded at the first validation, not at import: every
// run imports this module, and loading ajv and adding both schemas took 0.3 s of a
// thread's start, though only --exec, --record and check-trace validate anything.
let compiled: AjvClass | undefined;
function ajv(): AjvClass {
  if (compiled === undefined) {
    const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
    compiled = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
    compiled.addSchema(protocol);
    compiled.addSchema(trace);
  }
  return compiled;
}

const cache = new Map<string, ValidateFunction>();

/** The definitions named `prefix/...` (requests, results, callbacks): the operations they cover. */
export function definedOps(prefix: 'requests' | 'results' | 'callbacks'): string[] {
  return Object.keys(protocol.definitions)
    .filter((k) => k.startsWith(`${prefix}/`))
    .map((k) => k.slice(prefix.length + 1));
}

function validator(schemaId: string, definition: string): ValidateFunction | undefined {
  const key = `${schemaId}#${definition}`;
  let v = cache.get(key);
  if (v === undefined) {
    v = ajv().getSchema(`${schemaId}#/definitions/${definition.replaceAll('~', '~0').replaceAll('/', '~1')}`);
    if (v === undefined) return undefined;
    cache.set(key, v);
  }
  return v;
}

function describe(errors: readonly ErrorObject[] | null | undefined, where: string): string {
  const e = errors?.[0];
  if (e === undefined) return `${where} is not valid`;
  const field = `${where}${e.instancePath}`;
  if (e.keyword === 'additionalProperties') return `${field} has a field ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)} the schema does not allow`;
  if (e.keyword === 'required') return `${field} lacks the required field ${JSON.stringify((e.params as { missingProperty: string }).missingProperty)}`;
  return `${field} ${e.message ?? 'is not valid'}${e.keyword === 'enum' || e.keyword === 'const' ? ` (${JSON.stringify(e.params)})` : ''}`;
}

/**
 * Checks `value` against protocol.json's definition `definition` ("results/vfio-type1.mapDma",
 * "callbacks/memory.load", "reply", ...). Returns undefined when valid, else what is wrong,
 * naming the field (under `where`) and the rule.
 */
export function protocolProblem(definition: string, value: unknown, where: string): string | undefined {
  const v = validator(protocol.$id, definition);
  if (v === undefined) return `${where}: the protocol defines no ${definition}`;
  return v(value) ? undefined : describe(v.errors, where);
}

/** Checks one line of a trace against schema/trace.json's definition `definition`. */
export function traceProblem(definition: string, value: unknown, where: string): string | undefined {
  const v = validator(trace.$id, definition);
  if (v === undefined) return `${where}: the trace format defines no ${definition}`;
  return v(value) ? undefined : describe(v.errors, where);
}
