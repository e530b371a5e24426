// The kit's end of the protocol (PROTOCOL.md): starts the implementation, sends requests,
// answers its callbacks, validates every line it writes, and applies the per-message time
// limit. Anything that breaks the protocol makes the peer fail for good: the process is
// killed and every later request is refused with the same Undecided, which names the
// reason, the last messages exchanged and the tail of the process's standard error.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { Undecided } from '../engine/limits.ts';
import type { CallbackHandler, Channel, PeerHello } from './channel.ts';
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
}

interface Pending {
  readonly id: number;
  readonly op: string;
  readonly onCallback: CallbackHandler | undefined;
  resolve(value: Record<string, unknown>): void;
  reject(e: Undecided): void;
}

/**
 * Whether a process of group `pgid` is still running. A killed process whose parent died
 * first stays a zombie until init reaps it, which can take a while: it runs no more, so it
 * does not count. Reads /proc (Linux); elsewhere any member counts.
 */
export function groupRunning(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const e of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

const live = new Set<ExecPeer>();
process.once('exit', () => {
  for (const p of live) p.killNow();
});

export class ExecPeer implements Channel {
  private readonly child: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private nextCallback = 1;
  private pending: Pending | undefined;
  private failure: Undecided | undefined;
  private timer: NodeJS.Timeout | undefined;
  private buffered = '';
  private readonly log: string[] = [];
  private stderrTail = '';
  private exited = false;
  private readonly exitedPromise: Promise<void>;
  private closing = false;
  hello: PeerHello = { name: '', profiles: [] };
  /** Requests sent, callbacks answered, and the accesses inside batch callbacks (the benchmark's operations). */
  readonly stats = { requests: 0, callbacks: 0, batchedCalls: 0 };

  private constructor(
    readonly command: string,
    private readonly options: PeerOptions,
  ) {
    // A process group of its own, so that killing it also ends what the shell started.
    this.child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    live.add(this);
    this.exitedPromise = new Promise((resolve) => {
      // 'close' rather than 'exit': by then everything the process wrote has been read.
      this.child.once('close', (code, signal) => {
        this.exited = true;
        live.delete(this);
        if (!this.closing) this.fail(`the process exited (${signal === null ? `exit status ${code}` : `signal ${signal}`})`);
        resolve();
      });
    });
    this.child.once('error', (e) => this.fail(`could not start ${JSON.stringify(command)}: ${e.message}`));
    this.child.stdin.on('error', () => {
      /* EPIPE when the process is gone: reported through 'exit' */
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onData(chunk));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_KEEP);
    });
  }

  /** Starts `command` and performs the hello handshake. Throws Undecided. */
  static async start(command: string, options: PeerOptions): Promise<ExecPeer> {
    const peer = new ExecPeer(command, options);
    try {
      const r = await peer.request('hello', { protocol: PROTOCOL_VERSION }, undefined, Math.max(HELLO_TIMEOUT_MS, options.timeoutMs));
      if (r.protocol !== PROTOCOL_VERSION) peer.fail(`hello: the implementation speaks protocol ${String(r.protocol)}; this kit speaks ${PROTOCOL_VERSION}`);
      peer.hello = { name: r.name as string, profiles: r.profiles as string[] };
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
  request(op: string, args: Record<string, unknown>, onCallback?: CallbackHandler, timeoutMs = this.options.timeoutMs): Promise<Record<string, unknown>> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.pending !== undefined) return Promise.reject(new Undecided(`the kit sent ${op} while ${this.pending.op} was outstanding (a kit bug)`));
    const id = this.nextId++;
    this.stats.requests++;
    return new Promise((resolve, reject) => {
      this.pending = { id, op, onCallback, resolve, reject };
      this.send(JSON.stringify({ id, op, ...args }), timeoutMs);
    });
  }

  /** Says bye, waits for the exit, and kills the process group whatever happened. */
  async close(): Promise<void> {
    if (this.failure === undefined && !this.exited && this.pending === undefined) {
      try {
        await this.request('bye', {});
      } catch {
        /* the verdict is already decided; only cleanup is left */
      }
    }
    this.closing = true;
    this.child.stdin.end();
    if (!this.exited) {
      const grace = new Promise<void>((resolve) => setTimeout(resolve, EXIT_GRACE_MS).unref());
      await Promise.race([this.exitedPromise, grace]);
    }
    this.killNow();
    if (!this.exited) await this.exitedPromise;
    clearTimeout(this.timer);
    await this.groupGone();
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
    this.timer = setTimeout(() => this.fail(`no answer within ${timeoutMs} ms (the time limit of one message${timeoutMs === this.options.timeoutMs ? ', --timeout' : ''})`), timeoutMs);
  }

  private note(direction: string, line: string): void {
    this.log.push(`${direction} ${line.length > LOG_CHARS ? `${line.slice(0, LOG_CHARS)}... (${line.length} characters)` : line}`);
    if (this.log.length > LOG_KEEP) this.log.shift();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while (this.failure === undefined && (nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      this.onLine(line);
    }
    if (this.failure === undefined && this.buffered.length > MAX_LINE) this.fail(`a line longer than ${MAX_LINE} bytes`);
  }

  private onLine(line: string): void {
    this.note('<', line);
    this.options.onLine?.('<', line);
    clearTimeout(this.timer);
    let msg: unknown;
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
    const problem = protocolProblem('reply', m, 'reply');
    if (problem !== undefined) return this.fail(`${problem} (a message must be a reply {"id", "result" | "error"} or a callback {"cb", "op", ...})`);
    if (p === undefined || m.id !== p.id) return this.fail(`a reply to request id ${String(m.id)}, which was not asked${p === undefined ? ' (no request is outstanding)' : ` (the outstanding request is id ${p.id}, ${p.op})`}`);
    if (typeof m.error === 'string') return this.fail(`the implementation answered ${p.op} with an error: ${m.error}`);
    const resultProblem = protocolProblem(`results/${p.op}`, m.result, `the result of ${p.op}`);
    if (resultProblem !== undefined) return this.fail(resultProblem);
    this.pending = undefined;
    p.resolve(m.result as Record<string, unknown>);
  }

  private onCallback(p: Pending, m: { cb: number; op: string } & Record<string, unknown>): void {
    if (p.onCallback === undefined) return this.fail(`a callback ${m.op} during ${p.op}, which makes none`);
    const answer = (c: { op: string } & Record<string, unknown>, where: string): unknown => {
      const problem = protocolProblem(`callbacks/${c.op}`, c, where);
      if (problem !== undefined) throw new Undecided(problem.startsWith(`${where}: the protocol defines no`) ? `${where}: ${JSON.stringify(c.op)} is not a callback of the protocol` : problem);
      if (c.op === 'batch') {
        const calls = c.calls as ({ op: string } & Record<string, unknown>)[];
        this.stats.batchedCalls += calls.length;
        return calls.map((call, i) => answer(call, `${where}.calls/${i}`));
      }
      try {
        return p.onCallback!(c);
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
    const tail = this.stderrTail.trimEnd().split('\n').slice(-12).join('\n');
    return [
      'last messages (> kit to implementation, < implementation to kit):',
      ...(this.log.length === 0 ? ['  (none)'] : this.log.map((l) => `  ${l}`)),
      `standard error (tail): ${tail === '' ? '(empty)' : `\n${tail.replace(/^/gm, '  | ')}`}`,
    ].join('\n');
  }

  /** Ends the session: the pending request and every later one get this Undecided. */
  fail(reason: string): void {
    if (this.failure !== undefined) return;
    clearTimeout(this.timer);
    this.failure = new Undecided(`${this.command}: ${reason}\n${this.diagnostics()}`);
    this.killNow();
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.failure);
  }
}
