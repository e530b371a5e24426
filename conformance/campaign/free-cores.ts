// How many threads a campaign takes by default: the cores that other work leaves free now.
//
// The one-minute load average cannot say that: it still counts the run before this one for
// a minute after it ended. `npm ci && npm start`, or two runs back to back, found a load
// of about 1.5 to 1.9 on an idle 2-core machine, so the second run took one thread where
// two took 12-14 s instead of 17 (2026-11-30). So the kit reads the kernel's CPU counters
// (os.cpus(): each core's busy time) twice, MIN_WINDOW_MS apart while it waits, and counts
// the cores that processes other than this one kept busy between (this process's own CPU,
// every thread, left out). The load average is the fallback where the counters say nothing.
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';

/** What the counters say at one moment: milliseconds since an arbitrary origin. */
export interface CpuSample {
  /** performance.now(). */
  readonly at: number;
  /** Busy time (user, nice, sys, irq) of every core together. */
  readonly coresBusy: number;
  /** This process's CPU time, every thread. */
  readonly own: number;
  /** How many cores the counters cover. */
  readonly cores: number;
}

/** The counters' tick is 10 ms a core; below this window they cannot tell a busy core from an idle one. */
export const MIN_WINDOW_MS = 100;

/**
 * The cores this process may run on, by number, where Linux says (/proc/self/status
 * Cpus_allowed_list: "0-1,4"); undefined elsewhere. A container pinned to some cores of a
 * host still sees every core's counters: only its own cores' are read.
 */
export function parseCpuList(text: string): Set<number> | undefined {
  const line = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(text)?.[1];
  if (line === undefined) return undefined;
  const out = new Set<number>();
  for (const part of line.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) return undefined;
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.add(i);
  }
  return out;
}

function allowedCores(): Set<number> | undefined {
  try {
    return parseCpuList(readFileSync('/proc/self/status', 'utf8'));
  } catch {
    return undefined;
  }
}

const allowed = allowedCores();

export function sampleCpu(): CpuSample {
  let coresBusy = 0;
  let cores = 0;
  const all = cpus();
  // os.cpus() lists the cores in the kernel's order (cpu0, cpu1, ...), so an index is a core's number.
  const only = allowed !== undefined && allowed.size < all.length ? allowed : undefined;
  all.forEach((c, i) => {
    if (only !== undefined && !only.has(i)) return;
    coresBusy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
    cores++;
  });
  const own = process.cpuUsage();
  return { at: performance.now(), coresBusy, own: (own.user + own.system) / 1000, cores };
}

/** The counters' tick: a core's busy time moves by whole ticks of this many ms. */
const TICK_MS = 10;

/**
 * The cores that other processes kept busy from `from` to `to`, on average; undefined
 * when the window is shorter than MIN_WINDOW_MS, where there are no counters (no cores
 * listed, or all their times zero), or where they did not move while this process used more
 * CPU than they could have missed (a platform where they do not count).
 * Counters that did not move while this process used less than two ticks are an idle
 * machine: npm start waits out most of the window asleep (about 2 ms of CPU), and taking
 * that for missing counters sent it to the load average, which after a run still counts
 * that run for a minute, and to one thread instead of two.
 */
export function busyElsewhere(from: CpuSample, to: CpuSample): number | undefined {
  const window = to.at - from.at;
  if (window < MIN_WINDOW_MS) return undefined;
  const cores = to.coresBusy - from.coresBusy;
  const own = to.own - from.own;
  // A platform without the counters (os.cpus() empty, or its times all zero): unknown.
  if (to.cores === 0 || to.coresBusy === 0) return undefined;
  if (cores <= 0 && own >= 2 * TICK_MS) return undefined;
  return Math.max(0, cores - own) / window;
}

/**
 * `busy` cores of `counted` (those the counters cover) as cores of the `usable` this
 * process may run on, where the counters still cover more (a platform without
 * Cpus_allowed_list): the other load is then taken as spread evenly. Not seen: a CPU quota
 * (cgroup cpu.max) without pinning, which neither availableParallelism() (Node 20's libuv
 * reads the affinity only) nor the counters show; the load average did not either.
 */
export function busyOfUsable(busy: number, counted: number, usable: number): number {
  return counted > usable ? (busy * usable) / counted : busy;
}

/** The cores left for a campaign when `busy` cores are taken by other work: at least one. */
export function freeCores(cores: number, busy: number): number {
  return Math.max(1, Math.min(cores, Math.round(cores - busy)));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The cores other work leaves free now: measured over MIN_WINDOW_MS, else the load average beyond one (a load of one may be this run's own start, or the run before it). */
export async function freeCoresNow(): Promise<number> {
  const from = sampleCpu();
  // A timer may fire a fraction of a millisecond early: wait until the window is whole.
  for (let wait = MIN_WINDOW_MS; wait > 0; wait = from.at + MIN_WINDOW_MS - performance.now()) await sleep(Math.ceil(wait) + 1);
  const now = sampleCpu();
  const usable = availableParallelism();
  const busy = busyElsewhere(from, now);
  return freeCores(usable, busy === undefined ? Math.max(0, loadavg()[0]! - 1) : busyOfUsable(busy, now.cores, usable));
}
