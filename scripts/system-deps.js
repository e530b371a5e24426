// What the tests need from the system besides npm packages: Debian's chromium (the HTML
// report's browser test; playwright-core downloads no browser) and make with a C compiler
// (the protocol's C example). `npm test` calls this first, so the README's test command
// sets up a fresh machine: run as root with apt-get, it installs what is missing;
// otherwise it says what is missing, and the tests that need it fail with their reason.
//
// What the caller can wait for (`later`: chromium, which only *.browser.test.ts needs) is
// installed in the background, and the returned promise settles when it is there: on a
// fresh machine its download and unpacking (about 25 s of apt-get, mostly waiting on the
// network and the disk) run beside the tests that do not need it, instead of before all of
// them. The rest is installed before this returns.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The longest one background apt-get step may take (chromium's install took 17 s here, its update a few). */
const APT_STEP_MS = 300_000;

/** The tests that need a package the background install may still be bringing: the browser tests need chromium. */
export const needsLater = (file) => file.endsWith('.browser.test.ts');

export function ensureSystemDeps({ later = ['chromium'] } = {}) {
  const missing = [];
  if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
  if (!has('make')) missing.push('make');
  if (!has('cc')) missing.push('gcc', 'libc6-dev');
  if (missing.length === 0) return Promise.resolve();
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !has('apt-get')) {
    console.error(`npm test: missing ${missing.join(', ')} (install with: apt-get install ${missing.join(' ')}); the tests that need them will fail`);
    return Promise.resolve();
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const now = missing.filter((p) => !later.includes(p));
  const deferred = missing.filter((p) => later.includes(p));
  if (now.length > 0) {
    console.error(`npm test: installing ${now.join(', ')} from Debian (apt-get)`);
    const ok = spawnSync('apt-get', ['update'], { stdio: ['ignore', 2, 2], env }).status === 0 && spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...now], { stdio: ['ignore', 2, 2], env }).status === 0;
    if (!ok) console.error(`npm test: apt-get could not install ${now.join(', ')}; the tests that need them will fail`);
  }
  if (deferred.length === 0) return Promise.resolve();
  console.error(`npm test: installing ${deferred.join(', ')} from Debian (apt-get) beside the tests that do not need it`);
  // Its output is held and printed only if it fails, so that it does not cut into the tests' output.
  // A step that has not ended in APT_STEP_MS (a held lock, a stalled mirror) is killed and
  // counts as failed, so the part that waits for it runs (and its test fails) instead of
  // waiting for CI's own time limit.
  const step = (args) =>
    new Promise((resolve) => {
      const child = spawn('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env, timeout: APT_STEP_MS, killSignal: 'SIGKILL' });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      child.on('error', (e) => resolve({ ok: false, out: `${out}${e.message}\n` }));
      child.on('close', (code, signal) => resolve({ ok: code === 0, out: signal === null ? out : `${out}apt-get ${args[0]}: stopped after ${APT_STEP_MS / 1000} s (${signal})\n` }));
    });
  return (async () => {
    // apt-get update again only where the install above did not just run it.
    const updated = now.length > 0 ? { ok: true, out: '' } : await step(['update']);
    const installed = updated.ok ? await step(['install', '-y', '--no-install-recommends', ...deferred]) : updated;
    if (!installed.ok) console.error(`${installed.out}npm test: apt-get could not install ${deferred.join(', ')}; the tests that need them will fail`);
  })();
}
