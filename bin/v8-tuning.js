// How the kit's own processes tune V8. Importing this module sets the flags in the process:
// bin/dirtyspec.js imports it before it loads the kit (its worker threads share the
// setting: V8's flags are per process), bench/index.ts before the benchmarks' modules, so
// that they measure what the command runs; scripts/test.js passes V8_FLAGS to the test
// processes on their command line.
//
// The interrupt budget: how much bytecode a function runs before V8 considers optimizing
// it (default 67,584 in Node 20's V8 11.3). A campaign runs a great deal of code a few
// thousand times each (per run, per profile: set-up, directed tests, reports), and at the
// default budget V8's optimizing compiler took about a third of `dirtyspec run`'s CPU time:
// --trace-opt counted 1,214 optimizations of 400-odd functions, several of them recompiled
// after a deoptimization at 100-400 ms each, and a run forced onto one thread
// (--single-threaded) took as long in wall time as the default run took CPU time on all its
// threads. A budget of 500,000 leaves the lukewarm code to the baseline tiers and optimizes
// what runs per command as before. Measured on a 2-core machine, 2026-11-30, `dirtyspec run
// --seed 5 --workers 2`, alternated: wall 15.2-16.9 s and CPU 27.5-30.7 s at the default,
// 11.9-14.2 s and 20.5-24.6 s at 500,000 (1,000,000 was no better, 2,000,000 worse). The
// JSON report of a seed is the same either way: JIT tiers change no result, only speed.
// Its possible cost, within that host's noise: a long run of one profile in one thread
// (npm run bench's commands/s, after its warm-up) may be up to a tenth slower.
import v8 from 'node:v8';

export const INTERRUPT_BUDGET = 500_000;

/** The flags, as a node command line takes them. */
export const V8_FLAGS = [`--interrupt-budget=${INTERRUPT_BUDGET}`];

// Set before the kit's modules load: a function's budget is set as V8 first meets it.
for (const flag of V8_FLAGS) v8.setFlagsFromString(flag);
