// Preloaded (`--import`) into the test processes by scripts/test.js, which start them as
// `node --import tsx --import <this and no-child-coverage.js> uvu ...`: takes those
// preloads out of process.execArgv, which child_process.fork passes on to every process it
// starts. The one process the tests fork is bin/dirtyspec.js (a --lib run's child,
// lib/run-lib.ts), which needs no loader from its parent: it runs dist/ while dist/ was
// built from the sources as they are, and registers tsx itself when it runs the sources.
// With the parent's --import tsx it paid tsx's start and hooks on top of dist/'s bundle:
// about 2 s of CPU a process against 0.5 s, and lib.test.ts alone forks 25 of them.
// The child then starts as the installed command does (`dirtyspec run --lib`: no loader
// flags). Worker threads are not affected (they take their options from the parent
// thread, not from process.execArgv), nor are the options a test passes to a child itself.
import { fileURLToPath } from 'node:url';

const scripts = fileURLToPath(new URL('.', import.meta.url));
const ours = (value) => value === 'tsx' || value.startsWith(scripts) || value.startsWith(`file://${scripts}`);
for (let i = process.execArgv.length - 1; i >= 0; i--) {
  const arg = process.execArgv[i];
  if (arg.startsWith('--import=') && ours(arg.slice('--import='.length))) process.execArgv.splice(i, 1);
  else if (arg === '--import' && i + 1 < process.execArgv.length && ours(process.execArgv[i + 1])) process.execArgv.splice(i, 2);
}
