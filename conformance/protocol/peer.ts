// The kit's end of the protocol (PROTOCOL.md): starts the implementation, sends requests,
// answers its callbacks, validates every line the implementation writes, and applies the
// per-message time limit. Anything that breaks the protocol makes the peer fail for good:
// the process group is killed and every later request is refused with the same
// Undecided, which names the reason, the last messages exchanged and the tail of the
// process's standard error.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { Undecided } from '../engine/limits.ts';
import { Crash, type CrashInfo } from '../engine/crash.ts';
import type { CallbackHandler, Channel, PeerHello } from './channel.ts';
import { printable } from './printable.ts';
import { groupRunning, installKillHandlers, live } from './process-group.ts';
import { protocolProblem } from './schemas.ts';

export const PROTOCOL_VERSION = 1;
/** Longest line the kit reads (PROTOCOL.md, "Framing"). */
export const MAX_LINE = 16 * 1024 * 1024;
/** How long a process has to exit after `bye` before it is killed. */
export const EXIT_GRACE_MS = 2000;
/** The hello may take longer than other messages: the process is starting (PROTOCOL.md, "Time limits"). */
export const HELLO_TIMEOUT_MS = 10_000;
const LOG_KEEP = 8;
const LOG_CHARS = 400;
const STDERR_KEEP = 4096;

export interface PeerOptions {
  /** Per-message time limit, ms. */
  readonly timeoutMs: number;
  /** Called with every line sent (`>`) and received (`<`), for --record and tests. */
  readonly onLine?: (direction: '>' | '<', line: string) => void;
  /** Called when renew replaces the process: the old one's pid (ended) and the new one's (a worker thread tells the main thread, which kills the groups on an interrupt). */
  readonly onRenew?: (ended: number | undefined, started: number | undefined) => void;
}

interface Pending {
  readonly id: number;
  readonly op: string;
  /** The request's arguments as sent (JSON), for a crash report. */
  readonly args: string;
  readonly onCallback: CallbackHandler | undefined;
  resolve(value: Record<string, unknown>): void;
  reject(e: Undecided): void;
}

export class ExecPeer implements Channel {
  private child!: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private nextCallback = 1;
  private pending: Pending | undefined;
  private failure: Undecided | undefined;
  private timer: NodeJS.Timeout | undefined;
  private buffered = '';
  private readonly log: string[] = [];
  private stderrTail = '';
  private exited = false;
  private exitStatus = '';
  private exitedPromise!: Promise<void>;
  /** How far `buffered` has been searched for a newline. */
  private scanned = 0;
  private closing = false;
  /** Which process the events are about: renew starts another, and the old one's late events are ignored. */
  private generation = 0;
  hello: PeerHello = { name: '', profiles: [] };
  /** Requests sent, callbacks answered, and the accesses inside batch callbacks (the benchmark's operations). */
  readonly stats = { requests: 0, callbacks: 0, batchedCalls: 0 };

  private constructor(
    readonly command: string,
    private readonly options: PeerOptions,
  ) {
    installKillHandlers();
    this.spawn();
  }

  /** Starts the process, a process group of its own, so that killing it also ends what the shell started. */
  private spawn(): void {
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const child = spawn('/bin/sh', ['-c', this.command], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child = child;
    live.add(this);
    this.exitedPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!current()) return resolve();
        this.exited = true;
        // The command runs through /bin/sh, which reports a child killed by signal N as exit status 128 + N.
        const shellSignal = signal === null && code !== null && code > 128 ? Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0] : undefined;
        this.exitStatus = signal !== null ? `signal ${signal}` : shellSignal !== undefined ? `signal ${shellSignal}` : `exit status ${code}`;
        live.delete(this);
        resolve();
        // What it wrote before it exited is read first ('close'), unless a process outside
        // its group holds the pipes open: then 200 ms is all it gets.
        const done = () => {
          if (!current()) return;
          if (!this.closing)
            this.fail(`the process exited (${this.exitStatus}${shellSignal === undefined ? '' : `: the shell's exit status ${code}, 128 + ${shellSignal}`})`, {
              how: signal === null && shellSignal === undefined ? 'exit' : 'signal',
              status: this.exitStatus,
            });
          child.stdout.destroy();
          child.stderr.destroy();
        };
        const t = setTimeout(done, 200);
        child.once('close', () => {
          clearTimeout(t);
          done();
        });
      });
    });
    child.once('error', (e) => current() && this.fail(`could not start ${JSON.stringify(this.command)}: ${e.message}`));
    child.stdin.on('error', () => {
      /* EPIPE when the process is gone: reported through 'exit' */
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => current() && this.onData(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (current()) this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_KEEP);
    });
  }

  /**
   * Ends the process, whatever its state, and starts a fresh one with its own hello: a
   * new session (request and callback ids from 1), the same object, so the adapters
   * over it go on working. Shrinking a crash runs each attempt in a fresh process.
   * Throws Undecided when the fresh process does not complete its hello.
   */
  async renew(): Promise<void> {
    const ended = this.child.pid;
    this.closing = true;
    this.killNow();
    if (!this.exited) await this.exitedPromise;
    this.child.stdout.destroy();
    this.child.stderr.destroy();
    clearTimeout(this.timer);
    // The old group was sent SIGKILL: not waited for (close() waits for the last one's), a fresh process per attempt is the cost of shrinking a crash.
    live.delete(this);
    this.nextId = 1;
    this.nextCallback = 1;
    this.pending = undefined;
    this.failure = undefined;
    this.timer = undefined;
    this.buffered = '';
    this.scanned = 0;
    this.log.length = 0;
    this.stderrTail = '';
    this.exited = false;
    this.exitStatus = '';
    this.closing = false;
    this.spawn();
    this.options.onRenew?.(ended, this.child.pid);
    await this.handshake();
  }

  private async handshake(): Promise<void> {
    const r = await this.request('hello', { protocol: PROTOCOL_VERSION }, undefined, 1, Math.max(HELLO_TIMEOUT_MS, this.options.timeoutMs));
    if (r.protocol !== PROTOCOL_VERSION) {
      this.fail(`hello: the implementation speaks protocol ${String(r.protocol)}; this kit speaks ${PROTOCOL_VERSION}`);
      throw this.failure!;
    }
    this.hello = {
      name: printable(r.name as string),
      profiles: r.profiles as string[],
      ...(r.contract === undefined ? {} : { contract: r.contract as string }),
      ...(r.capabilities === undefined ? {} : { capabilities: r.capabilities as Record<string, unknown> }),
      ...(r.kvmCpuDirtyLogSize === undefined ? {} : { kvmCpuDirtyLogSize: r.kvmCpuDirtyLogSize as number }),
      ...(r.kvmChecksSignals === undefined ? {} : { kvmChecksSignals: r.kvmChecksSignals as boolean }),
    };
  }

  /**
   * Whether the session ended in a crash the engine judges (the process died or hung in a
   * call the profile names requirements for: Crash.covered): each sequence after it starts
   * with a fresh process (execAdapters renews it). Any other ended session stays ended.
   */
  get endedInCrash(): boolean {
    return this.failure instanceof Crash && this.failure.covered;
  }

  /** Starts `command` and performs the hello handshake. Throws Undecided. */
  static async start(command: string, options: PeerOptions): Promise<ExecPeer> {
    const peer = new ExecPeer(command, options);
    try {
      await peer.handshake();
    } catch (e) {
      await peer.close();
      throw e;
    }
    return peer;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends request `op` and resolves with its validated result, answering callbacks meanwhile. */
  request(op: string, args: Record<string, unknown>, onCallback?: CallbackHandler, weight = 1, timeoutMs = Math.round(this.options.timeoutMs * weight)): Promise<Record<string, unknown>> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.pending !== undefined) return Promise.reject(new Undecided(`the kit sent ${op} while ${this.pending.op} was outstanding (a kit bug)`));
    const id = this.nextId++;
    this.stats.requests++;
    return new Promise((resolve, reject) => {
      this.pending = { id, op, args: JSON.stringify(args), onCallback, resolve, reject };
      this.send(JSON.stringify({ id, op, ...args }), timeoutMs);
    });
  }

  /**
   * Says bye, waits for the exit, and kills the process group whatever happened. Returns
   * what went wrong in that ending (no reply to bye, no exit, a non-zero exit status), or
   * undefined: the verdict is decided by then, so the caller reports it as a warning.
   */
  async close(): Promise<string | undefined> {
    let problem: string | undefined;
    const sayBye = this.failure === undefined && !this.exited && this.pending === undefined;
    if (sayBye) {
      try {
        await this.request('bye', {});
      } catch (e) {
        problem = `bye: ${(e as Error).message.split('\n')[0]}`;
      }
    }
    this.closing = true;
    this.child.stdin.end();
    if (!this.exited) {
      const grace = new Promise<void>((resolve) => setTimeout(resolve, EXIT_GRACE_MS).unref());
      await Promise.race([this.exitedPromise, grace]);
      if (!this.exited && sayBye && problem === undefined) problem = `the process did not exit within ${EXIT_GRACE_MS} ms of bye and end of input, and was killed`;
    }
    if (this.exited && sayBye && problem === undefined && this.exitStatus !== 'exit status 0') problem = `the process ended with ${this.exitStatus} after bye (the protocol asks for exit status 0)`;
    this.killNow();
    if (!this.exited) await this.exitedPromise;
    this.child.stdout.destroy();
    this.child.stderr.destroy();
    clearTimeout(this.timer);
    await this.groupGone();
    return problem;
  }

  /** Waits (up to EXIT_GRACE_MS) until no process of the group is left running. */
  private async groupGone(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined) return;
    const deadline = performance.now() + EXIT_GRACE_MS;
    while (groupRunning(pid) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  /** SIGKILL to the whole process group (the shell and what it started). */
  killNow(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }

  private send(line: string, timeoutMs = this.options.timeoutMs): void {
    this.note('>', line);
    this.options.onLine?.('>', line);
    this.child.stdin.write(`${line}\n`);
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => this.fail(`no answer within ${timeoutMs} ms (the time limit of one message${timeoutMs === this.options.timeoutMs ? ', --timeout' : ''})`, { how: 'hang', status: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  }

  private note(direction: string, line: string): void {
    this.log.push(`${direction} ${printable(line.length > LOG_CHARS ? `${line.slice(0, LOG_CHARS)}... (${line.length} characters)` : line)}`);
    if (this.log.length > LOG_KEEP) this.log.shift();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    // Search only what has not been searched: a long line costs its length, not its square.
    while (this.failure === undefined && (nl = this.buffered.indexOf('\n', this.scanned)) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      this.scanned = 0;
      this.onLine(line);
    }
    this.scanned = this.buffered.length;
    if (this.failure === undefined && this.buffered.length > MAX_LINE) this.fail(`a line longer than ${MAX_LINE} characters`);
  }

  private onLine(line: string): void {
    this.note('<', line);
    this.options.onLine?.('<', line);
    clearTimeout(this.timer);
    let msg: unknown;
    if (line.startsWith('\ufeff')) return this.fail('the line starts with a byte-order mark (U+FEFF): write plain UTF-8');
    try {
      msg = JSON.parse(line);
    } catch (e) {
      return this.fail(`the implementation wrote a line that is not JSON (${(e as Error).message}); standard output is for protocol messages only, logs go to standard error`);
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return this.fail('the implementation wrote a JSON value that is not an object');
    const m = msg as Record<string, unknown>;
    const p = this.pending;
    if ('cb' in m) {
      const problem = protocolProblem('callbackEnvelope', m, 'callback');
      if (problem !== undefined) return this.fail(problem);
      if (p === undefined) return this.fail(`a callback (cb ${String(m.cb)}) while no request is outstanding`);
      if (m.cb !== this.nextCallback) return this.fail(`callback id ${String(m.cb)}, expected ${this.nextCallback} (callback ids increase by one from 1 over the session)`);
      this.nextCallback++;
      this.stats.callbacks++;
      return this.onCallback(p, m as { cb: number; op: string });
    }
    if ('re' in m) return this.fail('a message with "re": that is how the kit answers callbacks; the implementation sends replies {"id", "result" | "error"} and callbacks {"cb", "op", ...}');
    if ('error' in m && typeof m.error !== 'string') return this.fail(`the reply's "error" must be a string (the implementation's explanation), got ${printable(JSON.stringify(m.error)).slice(0, 200)}`);
    const problem = protocolProblem('reply', m, 'reply');
    if (problem !== undefined) return this.fail(`${problem} (a message must be a reply {"id", "result" | "error"} or a callback {"cb", "op", ...})`);
    if (p === undefined || m.id !== p.id) {
      const again = typeof m.id === 'number' && m.id < this.nextId && (p === undefined || m.id !== p.id);
      return this.fail(
        `${again ? `a second reply to request id ${String(m.id)}, which was answered already` : `a reply to request id ${String(m.id)}, which was not asked`}${p === undefined ? ' (no request is outstanding)' : ` (the outstanding request is id ${p.id}, ${p.op})`}`,
      );
    }
    if (typeof m.error === 'string') return this.fail(`the implementation answered ${p.op} with an error: ${printable(m.error)}`);
    const resultProblem = protocolProblem(`results/${p.op}`, m.result, `the result of ${p.op}`);
    if (resultProblem !== undefined) return this.fail(resultProblem);
    this.pending = undefined;
    p.resolve(m.result as Record<string, unknown>);
  }

  private onCallback(p: Pending, m: { cb: number; op: string } & Record<string, unknown>): void {
    if (p.onCallback === undefined) return this.fail(`a callback ${m.op} during ${p.op}, which makes none`);
    const answer = (c: { op: string } & Record<string, unknown>, where: string): unknown => {
      const inner = c.op === 'batch' && Array.isArray(c.calls) ? (c.calls as { op?: unknown }[]).findIndex((x) => typeof x === 'object' && x !== null && x.op === 'batch') : -1;
      if (inner >= 0) throw new Undecided(`${where}.calls/${inner}: a batch inside a batch (a batch holds single callbacks)`);
      const problem = protocolProblem(`callbacks/${c.op}`, c, where);
      if (problem !== undefined) throw new Undecided(problem.startsWith(`${where}: the protocol defines no`) ? `${where}: ${JSON.stringify(c.op)} is not a callback of the protocol` : problem);
      if (c.op === 'batch') {
        const calls = c.calls as ({ op: string } & Record<string, unknown>)[];
        this.stats.batchedCalls += calls.length;
        return calls.map((call, i) => answer(call, `${where}.calls/${i}`));
      }
      const plain: { op: string } & Record<string, unknown> = { ...c };
      delete plain.cb; // the handler (and a trace) sees the callback without its id
      try {
        return p.onCallback!(plain);
      } catch (e) {
        if (e instanceof Undecided) throw e;
        throw new Undecided(`${where} ${c.op} failed in the kit: ${(e as Error).message}`);
      }
    };
    let result: unknown;
    try {
      result = answer(m, `callback ${m.cb}`);
    } catch (e) {
      return this.fail(e instanceof Undecided ? e.message : String(e));
    }
    this.send(JSON.stringify({ re: m.cb, result }));
  }

  /** Whether the session has ended (fail was called). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** The last messages exchanged and the tail of the process's standard error. */
  diagnostics(): string {
    const tail = printable(this.stderrTail.trimEnd().split('\n').slice(-12).join('\n'), true);
    // What the kit had not read when the session ended: whole lines (they did end with a
    // newline), then at most one partial line, the only one without a newline yet.
    const lines = this.buffered.split('\n');
    const rest = lines.pop()!;
    const cut = (text: string) => `${printable(text.slice(0, LOG_CHARS))}${text.length > LOG_CHARS ? `... (${text.length} characters)` : ''}`;
    const partial = [
      ...lines.slice(0, LOG_KEEP).map((l) => `  < ${cut(l)}   (not read: the session had ended)`),
      ...(lines.length > LOG_KEEP ? [`  < ... (${lines.length - LOG_KEEP} more lines not read)`] : []),
      ...(rest === '' ? [] : [`  < (no newline yet) ${cut(rest)}   <- a message must end with a newline`]),
    ];
    return [
      'last messages (> kit to implementation, < implementation to kit):',
      ...(this.log.length === 0 && partial.length === 0 ? ['  (none)'] : this.log.map((l) => `  ${l}`)),
      ...partial,
      `standard error (tail): ${tail === '' ? '(empty)' : `\n${tail.replace(/^/gm, '  | ')}`}`,
    ].join('\n');
  }

  /**
   * Ends the session: the pending request and every later one get this Undecided. With
   * `ended` (the process died or hung) while a request other than hello and bye was
   * outstanding, it is a Crash: the call in flight, the status, the standard error, and
   * how to start a fresh process (renew).
   */
  fail(reason: string, ended?: Pick<CrashInfo, 'how' | 'status'>): void {
    if (this.failure !== undefined) return;
    clearTimeout(this.timer);
    const message = `${this.command}: ${reason}\n${this.diagnostics()}`;
    const p = this.pending;
    this.failure =
      ended !== undefined && p !== undefined && p.op !== 'hello' && p.op !== 'bye'
        ? new Crash(
            message,
            { ...ended, call: { op: p.op, args: p.args }, diagnostics: this.diagnostics(), stderr: printable(this.stderrTail.trimEnd().split('\n').slice(-12).join('\n'), true) },
            () => this.renew(),
            (why) => this.fail(why),
          )
        : new Undecided(message);
    this.killNow();
    this.pending = undefined;
    p?.reject(this.failure);
  }
}
