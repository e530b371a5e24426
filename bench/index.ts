// `npm run bench`: runs every scenario and prints its figures, each with its target if
// it has one. With --json, prints one {"name", "value", "unit"} object per line and
// nothing else on stdout. A scenario that finds a wrong result throws: exit status 1.
// First: V8 tuned as the command tunes it (bin/v8-tuning.js), before the kit's modules load.
import '../bin/v8-tuning.js';
import { conformanceEngine } from './conformance-engine.ts';
import { detectionRate } from './detection-rate.ts';
import { dirtyRingVsBitmap } from './dirty-ring-vs-bitmap.ts';
import { iovaBitmap } from './iova-bitmap.ts';
import { kvmManualProtect } from './kvm-manual-protect.ts';
import { lib } from './lib.ts';
import { migration } from './migration.ts';
import { npmStart } from './npm-start.ts';
import { pgtableScan } from './pgtable-scan.ts';
import { protocol } from './protocol.ts';

export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: { readonly atLeast: number } | { readonly atMost: number };
}

export interface Scenario {
  readonly name: string;
  /** `log` reports progress (to stderr, and only in human-readable mode). */
  run(log: (message: string) => void): Figure[] | Promise<Figure[]>;
}

const all: Scenario[] = [pgtableScan, conformanceEngine, npmStart, iovaBitmap, migration, kvmManualProtect, protocol, lib, dirtyRingVsBitmap, detectionRate];
// `npm run bench -- --only NAME` runs one scenario (`-- --only detection-rate --seeds N` fewer seeds); `-- --full-ring-grid` runs dirty-ring-vs-bitmap's whole grid (1 GiB to 1 TiB, 1 to 64 vCPUs) instead of the quick one.
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const scenarios = all.filter((s) => only === undefined || s.name === only);

function format(value: number): string {
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toPrecision(3);
}

function describe(f: Figure): string {
  const line = `${f.name}: ${format(f.value)} ${f.unit}`;
  if (f.target === undefined) return line;
  const [op, bound, met] = 'atLeast' in f.target ? ['>=', f.target.atLeast, f.value >= f.target.atLeast] : ['<=', f.target.atMost, f.value <= f.target.atMost];
  return `${line}  (target ${op} ${format(bound)} ${f.unit}: ${met ? 'met' : 'NOT MET'})`;
}

const json = process.argv.includes('--json');
const log = json ? () => {} : (message: string) => process.stderr.write(`  ${message}\n`);
if (!json && globalThis.gc === undefined) log('global.gc is not exposed (run node with --expose-gc): heap figures include garbage');

for (const scenario of scenarios) {
  if (!json) console.log(`${scenario.name}`);
  for (const f of await scenario.run(log)) {
    console.log(json ? JSON.stringify({ name: f.name, value: f.value, unit: f.unit }) : `  ${describe(f)}`);
  }
}
