// `dirtyspec run --lib LIBRARY`: the run happens in a child process (this CLI forked,
// with DIRTYSPEC_LIB_CHILD set), so that a library that crashes (SIGSEGV, abort) or
// hangs takes only the child with it. The child loads the library, runs the profiles and
// sends each profile's result to the parent over the IPC channel; before and after
// every call into the library it writes a line to a pipe (fd 4), so the parent always
// knows the last steps. The parent prints the report. When the child dies, or a call
// outlasts --timeout (the parent then kills it), every profile without a result is
// undecided with the reason (the signal, the time limit), the last calls and the tail of
// the child's standard error and output. The child runs in a process group of its own,
// killed whatever happened, so nothing is left behind.
//
// A crash or hang in a call is then confirmed as --exec confirms one: the profile runs
// again, with the same seed, up to the sequence that crashed, against the library served
// over the protocol by another process (`DIRTYSPEC_LIB_SERVE=1 dirtyspec run --lib ...`),
// which the kit starts afresh whenever it dies. A crash that comes back in a call a
// requirement covers is a failure (exit 1), shrunk with a fresh process per attempt and
// reported with the call in flight and a --lib replay line; one that does not come back
// stays undecided.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { PROFILES, type Adapter, type ProfileName } from '../adapters/types.ts';
import type { ProfileResult, RunOptions } from '../engine/run-profile.ts';
import { Progress, UsageError, elapsed, type Io } from '../cli/args.ts';
import { freshSeed, reportResults, runProfileSafely, shrinkOption, type RunRequest } from '../cli/run.ts';
import { shellQuote } from '../report/common.ts';
import { serve } from '../protocol/serve.ts';
import { execAdapters } from '../protocol/exec-adapters.ts';
import { LoopbackChannel } from '../protocol/channel.ts';
import { printable } from '../protocol/printable.ts';
import { groupRunning, installKillHandlers, live } from '../protocol/process-group.ts';
import { RecordingChannel, TraceWriter, traceDeclared } from '../protocol/recorder.ts';
import { runServed } from '../campaign/confirm-hang.ts';
import { LibPeer } from './lib-adapters.ts';
import { recordedContract } from '../profiles/index.ts';

export const LIB_CHILD_ENV = 'DIRTYSPEC_LIB_CHILD';
/** Set in the process that serves the library over the protocol, to confirm a crash. */
const LIB_SERVE_ENV = 'DIRTYSPEC_LIB_SERVE';
/** The step pipe's file descriptor in the child. */
const STEP_FD = 4;
/** Loading the library and its hello may take this long (a constructor may be slow), or --timeout if longer. */
const LOAD_TIMEOUT_MS = 10_000;
/**
 * The child may take this long to start (node, the TypeScript loader, the kit's modules)
 * before it loads the library: on a loaded machine that alone has taken over 10 s, and it
 * is no part of the library's time.
 */
const START_TIMEOUT_MS = 120_000;
/** A call is killed this long after --timeout: the child measures the limit itself first and reports it. */
const KILL_GRACE_MS = 1000;
const STEPS_KEEP = 8;
/** The least time limit a call gets while a crash is confirmed over the protocol (see confirmCrash). */
const CONFIRM_MIN_TIMEOUT_MS = 2000;
const TAIL_KEEP = 4096;

type ChildMessage = { t: 'loading' } | { t: 'hello'; name: string; profiles: ProfileName[] } | { t: 'progress'; text: string } | { t: 'result'; result: ProfileResult } | { t: 'usage'; message: string } | { t: 'fatal'; message: string };

const CLI = fileURLToPath(new URL('../../bin/dirtyspec.js', import.meta.url));

/** Whether this process is the child of a --lib run. */
export function isLibChild(): boolean {
  return process.env[LIB_CHILD_ENV] === '1' && typeof process.send === 'function';
}

/** A library path as dlopen should see it: relative paths made absolute (dlopen searches the system for a bare name). */
export function libraryPath(path: string): string {
  return existsSync(path) ? resolve(path) : path;
}

/** --lib: in the child, the run; in the parent, the child and the report. */
export async function runLib(req: RunRequest & { libPath: string }, argv: readonly string[], io: Io): Promise<number> {
  if (process.env[LIB_SERVE_ENV] === '1') return serveLibrary(req);
  if (!isLibChild()) return runParent(req, argv, io);
  try {
    return await runChild(req);
  } finally {
    process.disconnect?.(); // every message was sent (awaited): let the process exit
  }
}

/** The library's adapters served over the protocol on standard input and output, until bye or end of input. */
async function serveLibrary(req: RunRequest & { libPath: string }): Promise<number> {
  const peer = LibPeer.load(libraryPath(req.libPath), { timeoutMs: req.timeoutMs });
  try {
    await serve([...peer.adapters().values()], peer.name);
  } finally {
    peer.close();
  }
  return 0;
}

// ---- the child ---------------------------------------------------------------------

function send(m: ChildMessage): Promise<void> {
  return new Promise((done) => process.send!(m, undefined, {}, () => done()));
}

function stepLine(text: string): void {
  const line = Buffer.from(`${text.replace(/\n/g, ' ')}\n`);
  let off = 0;
  while (off < line.length) {
    try {
      off += writeSync(STEP_FD, line, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      process.exit(2); // EPIPE: the parent is gone (killed before its handlers ran), and the run with it
    }
  }
}

async function runChild(req: RunRequest & { libPath: string }): Promise<number> {
  let peer: LibPeer;
  await send({ t: 'loading' }); // the library's time starts now, not when the process did
  try {
    peer = LibPeer.load(libraryPath(req.libPath), { timeoutMs: req.timeoutMs, onCall: (d, text) => stepLine(`${d} ${text}`) });
  } catch (e) {
    await send({ t: 'fatal', message: (e as Error).message });
    return 2;
  }
  await send({ t: 'hello', name: peer.name, profiles: peer.profiles });
  let available: Map<ProfileName, Adapter>;
  try {
    available = peer.adapters();
  } catch (e) {
    await send({ t: 'fatal', message: (e as Error).message }); // a function of a profile it names is missing
    return 2;
  }
  const missing = req.profiles.filter((p) => !available.has(p));
  if (missing.length > 0) {
    await send({ t: 'usage', message: `profile ${missing.join(', ')} is not implemented by --lib ${req.libPath} (it implements: ${peer.profiles.join(', ')})` });
    return 2;
  }
  const wanted = req.profiles.length === 0 ? peer.profiles : req.profiles;
  let adapters: Adapter[] = PROFILES.filter((p) => wanted.includes(p)).map((p) => available.get(p)!);
  let writer: TraceWriter | undefined;
  if (req.record !== undefined) {
    try {
      writer = new TraceWriter(req.record);
    } catch (e) {
      await send({ t: 'fatal', message: `cannot write the --record trace to ${req.record}: ${(e as Error).message}` });
      return 2;
    }
    // As for in-process adapters: recorded through the protocol's encoding.
    const recorded = execAdapters(new RecordingChannel(new LoopbackChannel(adapters, peer.name), writer));
    adapters = adapters.map((a) => recorded.get(a.profile)!);
  }
  const seed = req.seed ?? 0;
  const childIo: Io = { out: () => {}, err: (t) => void process.stderr.write(t), errIsTTY: false };
  let lastProgress = 0;
  for (const adapter of adapters) {
    writer?.header(adapter.profile, adapter.name, seed, recordedContract(adapter, req.contract, req.iovaBitmapContract), traceDeclared(adapter));
    const options: RunOptions & { seed: number } = {
      runs: req.runs,
      seed,
      timeoutMs: req.timeoutMs,
      maxCommands: req.maxCommands,
      ...(req.replay === undefined ? {} : { path: req.replay }),
      // --contract, as for an adapter module or --exec: the driver contract (smmu profiles) or iova-bitmap's.
      ...(req.contract === undefined ? {} : { contract: req.contract }),
      ...(req.iovaBitmapContract === undefined ? {} : { iovaBitmapContract: req.iovaBitmapContract }),
      ...(req.fullCheck === true ? { fullCheck: true } : {}),
      ...shrinkOption(req),
      ...(writer === undefined ? {} : { onSequence: (input: unknown) => writer.sequence(input) }),
      onProgress: (done) => {
        stepLine(`# runs ${done}`); // the parent's count of the sequences done, for confirming a crash
        const now = performance.now();
        if (now - lastProgress < 200) return;
        lastProgress = now;
        const phase = req.replay !== undefined ? 'replaying' : done > req.runs ? `shrinking a failure (run ${done})` : `${done}/${req.runs} runs`;
        void send({ t: 'progress', text: `${adapter.profile} ${phase}` });
      },
    };
    stepLine(`# profile ${adapter.profile}`);
    const result = await runProfileSafely(adapter, options, childIo);
    writer?.footer();
    await send({ t: 'result', result });
  }
  writer?.close();
  peer.close();
  return 0;
}

// ---- the parent --------------------------------------------------------------------

async function runParent(req: RunRequest & { libPath: string }, argv: readonly string[], io: Io): Promise<number> {
  const seed = req.seed ?? freshSeed();
  const args = ['run', ...argv, ...(req.seed === undefined ? ['--seed', String(seed)] : [])];
  const child: ChildProcess = fork(CLI, args, {
    env: { ...process.env, [LIB_CHILD_ENV]: '1' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc', 'pipe'],
    serialization: 'advanced',
    detached: true, // a process group of its own: killed whole
  });
  const pid = child.pid;
  const killGroup = () => {
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  const handle = { killNow: killGroup };
  installKillHandlers();
  live.add(handle);

  const results: ProfileResult[] = [];
  let hello: { name: string; profiles: ProfileName[] } | undefined;
  let usage: string | undefined;
  let fatal: string | undefined;
  let killedFor: string | undefined;
  let current: ProfileName | undefined;
  let runsDone = 0;
  const steps: string[] = [];
  let tail = '';
  let stepBuf = '';
  let timer: NodeJS.Timeout | undefined;
  const progress = new Progress(io);
  const started = performance.now();

  const arm = (ms: number, why: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      killedFor = why;
      killGroup();
    }, ms);
  };
  arm(START_TIMEOUT_MS, `the process to run the library did not start within ${START_TIMEOUT_MS} ms`);

  const onStep = (line: string) => {
    if (line.startsWith('# profile ')) {
      current = line.slice(10) as ProfileName;
      runsDone = 0;
      return;
    }
    if (line.startsWith('# runs ')) {
      runsDone = Number(line.slice(7));
      return;
    }
    steps.push(line);
    if (steps.length > STEPS_KEEP) steps.shift();
    if (line.startsWith('> ')) {
      // A call over a huge range has a limit of its own (callWeight), which its line starts with.
      const own = /^> \[limit (\d+) ms\] /.exec(line);
      const limit = own === null ? req.timeoutMs : Number(own[1]);
      arm(limit + KILL_GRACE_MS, `${line.slice(own === null ? 2 : own[0].length)} did not return within ${limit} ms (--timeout${own === null ? '' : ', weighted for its size'}); the process was killed`);
    } else clearTimeout(timer);
  };
  const stepPipe = child.stdio[4] as Readable;
  stepPipe.setEncoding('utf8');
  stepPipe.on('data', (chunk: string) => {
    stepBuf += chunk;
    let nl: number;
    while ((nl = stepBuf.indexOf('\n')) >= 0) {
      onStep(stepBuf.slice(0, nl));
      stepBuf = stepBuf.slice(nl + 1);
    }
  });
  for (const s of [child.stdout!, child.stderr!]) {
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-TAIL_KEEP);
    });
  }
  child.on('message', (m: ChildMessage) => {
    switch (m.t) {
      case 'loading':
        arm(Math.max(LOAD_TIMEOUT_MS, req.timeoutMs), `the library was not loaded and its hello answered within ${Math.max(LOAD_TIMEOUT_MS, req.timeoutMs)} ms`);
        break;
      case 'hello':
        hello = { name: m.name, profiles: m.profiles };
        clearTimeout(timer);
        break;
      case 'progress':
        progress.update(() => `dirtyspec run: --lib ${m.text}, ${elapsed(started)}`);
        break;
      case 'result':
        results.push(m.result);
        break;
      case 'usage':
        usage = m.message;
        break;
      case 'fatal':
        fatal = m.message;
        break;
    }
  });
  const exit = await new Promise<string>((done) => {
    child.once('exit', (code, signal) => done(signal !== null ? `signal ${signal}` : `exit status ${code}`));
    child.once('error', (e) => done(`could not start: ${e.message}`));
  });
  clearTimeout(timer);
  progress.clear();
  // Output written just before the end is read before the report: 'close' follows 'exit'.
  await new Promise<void>((done) => {
    const t = setTimeout(done, 200);
    child.once('close', () => {
      clearTimeout(t);
      done();
    });
  });
  killGroup();
  if (pid !== undefined) {
    const deadline = performance.now() + 2000;
    while (groupRunning(pid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
  live.delete(handle);
  if (stepBuf !== '') onStep(stepBuf);

  if (usage !== undefined) throw new UsageError(usage);
  const asked = req.profiles.length > 0 ? req.profiles : (hello?.profiles ?? PROFILES);
  const done = new Set(results.map((r) => r.name));
  const lost = PROFILES.filter((p) => asked.includes(p) && !done.has(p));
  if (lost.length > 0) {
    const reason =
      fatal !== undefined
        ? fatal
        : killedFor !== undefined
          ? killedFor
          : `the process running the library ended with ${exit}${current === undefined ? '' : ` during profile ${current}`}${exit.startsWith('signal') ? ' (the library crashed)' : ''}`;
    const printableTail = printable(tail.trimEnd().split('\n').slice(-12).join('\n'), true);
    const message = [
      `--lib ${req.libPath}: ${reason}`,
      'last calls into the library (> call, < its answer):',
      ...(steps.length === 0 ? ['  (none)'] : steps.map((s) => `  ${printable(s)}`)),
      `standard error and output (tail): ${printableTail === '' ? '(empty)' : `\n${printableTail.replace(/^/gm, '  | ')}`}`,
    ].join('\n');
    if (fatal !== undefined) io.err(`dirtyspec run: UNDECIDED: ${message}\n`);
    // The call in flight died or hung: confirm it in a process serving the library (a sequence still in its first pass, or a replay).
    const inCall = fatal === undefined && (killedFor === undefined || killedFor.includes('did not return within'));
    if (inCall && current !== undefined && lost.includes(current) && (runsDone < req.runs || req.replay !== undefined)) {
      progress.update(() => `dirtyspec run: --lib ${current}: confirming the crash in a fresh process, ${elapsed(started)}`);
      const confirmed = await confirmCrash(req, current, runsDone, seed);
      progress.clear();
      if (confirmed !== undefined) {
        results.push(confirmed);
        lost.splice(lost.indexOf(current), 1);
      }
    }
    for (const name of lost) {
      results.push({ name, adapter: hello?.name ?? req.libPath, verdict: 'undecided', runs: 0, commands: 0, seconds: 0, seed, transitionCoverage: {}, requirements: [], undecided: { message, steps: [] } });
    }
  }
  results.sort((a, b) => PROFILES.indexOf(a.name as ProfileName) - PROFILES.indexOf(b.name as ProfileName));
  return reportResults({ ...req, seed }, results, io);
}

/**
 * Runs profile `profile` again, with the same seed, through sequence `runsDone` (the one
 * that crashed; or the replay), against the library served over the protocol by a process
 * of its own, which the kit starts again whenever it dies: the result when the crash came
 * back as a failure, else undefined.
 */
async function confirmCrash(req: RunRequest & { libPath: string }, profile: ProfileName, runsDone: number, seed: number): Promise<ProfileResult | undefined> {
  // A call over the protocol makes a round trip per memory access: a call that took half
  // the limit in process may take more than all of it here on a loaded machine, and the
  // confirmation would then meet another call's time limit first. So at least 2 s a call.
  const timeoutMs = Math.max(req.timeoutMs, CONFIRM_MIN_TIMEOUT_MS);
  const command = `${LIB_SERVE_ENV}=1 ${[process.execPath, CLI, 'run', '--lib', libraryPath(req.libPath), '--timeout', String(timeoutMs)].map(shellQuote).join(' ')}`;
  const result = await runServed(command, profile, {
    runs: req.replay !== undefined ? req.runs : Math.min(req.runs, runsDone + 1),
    seed,
    timeoutMs,
    maxCommands: req.maxCommands,
    ...(req.replay === undefined ? {} : { path: req.replay }),
  });
  return result?.verdict === 'does-not-conform' ? { ...result, adapter: result.adapter === '' ? req.libPath : result.adapter } : undefined;
}
