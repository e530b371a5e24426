// The processes the kit starts for --exec: a process group each, killed with the kit,
// and counted as gone once none of the group runs any more.
import { readFileSync, readdirSync } from 'node:fs';

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

/** The peers whose processes may still run: killed when the kit exits or is interrupted. */
export const live = new Set<{ killNow(): void }>();
let handlersInstalled = false;

/** The implementations die with the kit: at exit, and on the signals that would end it (their group is not the terminal's). */
export function installKillHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.killNow();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const p of live) p.killNow();
      process.kill(process.pid, signal); // the default action, now that this handler is gone
    });
  }
}
