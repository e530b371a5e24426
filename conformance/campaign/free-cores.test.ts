// How many threads a campaign takes by default (free-cores.ts): the cores that other
// processes keep busy, read from the kernel's counters over a window, with this process's
// own CPU left out.
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MIN_WINDOW_MS, busyElsewhere, busyOfUsable, freeCores, parseCpuList, sampleCpu, type CpuSample } from './free-cores.ts';

const at = (ms: number, coresBusy: number, own: number): CpuSample => ({ at: ms, coresBusy, own, cores: 2 });

test('the free cores are the cores less those other work keeps busy, rounded, and at least one', () => {
  assert.is(freeCores(2, 0), 2);
  assert.is(freeCores(2, 0.4), 2);
  assert.is(freeCores(2, 0.6), 1);
  assert.is(freeCores(2, 1.7), 1);
  assert.is(freeCores(2, 12), 1);
  assert.is(freeCores(8, 2), 6);
});

test("busy elsewhere: the cores' busy time over the window, less this process's own CPU", () => {
  // 1,000 ms: the cores were busy 1,500 ms together, 400 of them this process's.
  assert.is(busyElsewhere(at(0, 10_000, 50), at(1000, 11_500, 450)), 1.1);
  // Only this process ran: nothing elsewhere (and never less than nothing, at the counters' 10 ms ticks).
  assert.is(busyElsewhere(at(0, 10_000, 50), at(200, 10_190, 250)), 0);
});

test('busy elsewhere is unknown over a window too short for the counters, or where they did not move while this process ran', () => {
  assert.is(busyElsewhere(at(0, 10_000, 0), at(MIN_WINDOW_MS - 1, 10_200, 0)), undefined);
  assert.is(busyElsewhere(at(0, 10_000, 0), at(500, 10_000, 300)), undefined);
  assert.is(busyElsewhere(at(0, 10_000, 0), at(100, 10_000, 20)), undefined);
  // No counters at all (os.cpus() empty, or its times zero, where /proc/stat cannot be read): unknown however little this process ran.
  assert.is(busyElsewhere({ at: 0, coresBusy: 0, own: 0, cores: 0 }, { at: 100, coresBusy: 0, own: 2, cores: 0 }), undefined);
  assert.is(busyElsewhere(at(0, 0, 0), at(100, 0, 2)), undefined);
});

test('counters that did not move while this process used less than two of their ticks: an idle machine, nothing busy elsewhere', () => {
  // npm start's window as measured on an idle 2-core machine: the counters unchanged over 103 ms, the process 2 ms of CPU.
  assert.is(busyElsewhere(at(345.7, 16_090_020, 353.0), at(448.8, 16_090_020, 355.1)), 0);
  assert.is(busyElsewhere(at(0, 10_000, 0), at(100, 10_000, 19)), 0);
});

test('counters that cover more cores than this process may use (a container on a big host): their load is taken as spread evenly', () => {
  assert.is(busyOfUsable(16, 64, 2), 0.5);
  assert.is(busyOfUsable(1.5, 2, 2), 1.5);
  assert.is(busyOfUsable(1.5, 2, 4), 1.5);
});

test("the cores a process may run on, from Linux's Cpus_allowed_list; undefined where it says nothing readable", () => {
  assert.equal([...parseCpuList('Name:\tnode\nCpus_allowed_list:\t0-1,4,6-7\nMems_allowed:\t1\n')!], [0, 1, 4, 6, 7]);
  assert.equal([...parseCpuList('Cpus_allowed_list:\t3\n')!], [3]);
  assert.is(parseCpuList('Name:\tnode\n'), undefined);
  assert.is(parseCpuList('Cpus_allowed_list:\t0-x\n'), undefined);
});

test('a process spinning beside this one counts as busy elsewhere; this one waiting does not', async () => {
  const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 3000; while (Date.now() < end);'], { stdio: 'ignore' });
  try {
    // Let it start, then measure over 600 ms while this process sleeps.
    await new Promise((r) => setTimeout(r, 400));
    const from = sampleCpu();
    await new Promise((r) => setTimeout(r, 600));
    const to = sampleCpu();
    // A platform whose counters do not move (some sandboxes) cannot tell: nothing to check there.
    if (to.coresBusy === from.coresBusy) return;
    const busy = busyElsewhere(from, to);
    assert.ok(busy !== undefined && busy >= 0.7, `a spinning process beside this one: ${busy} cores busy elsewhere`);
  } finally {
    child.kill();
  }
});

test.run();
