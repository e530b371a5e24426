// What the tests need from the system besides npm packages: Debian's chromium (the HTML
// report's browser test; playwright-core downloads no browser) and make with a C compiler
// (the protocol's C example). `npm test` calls this first, so the README's test command
// sets up a fresh machine: run as root with apt-get, it installs what is missing;
// otherwise it says what is missing, and the tests that need it fail with their reason.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

export function ensureSystemDeps() {
  const missing = [];
  if (!existsSync('/usr/bin/chromium')) missing.push('chromium');
  if (!has('make')) missing.push('make');
  if (!has('cc')) missing.push('gcc', 'libc6-dev');
  if (missing.length === 0) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !has('apt-get')) {
    console.error(`npm test: missing ${missing.join(', ')} (install with: apt-get install ${missing.join(' ')}); the tests that need them will fail`);
    return;
  }
  console.error(`npm test: installing ${missing.join(', ')} from Debian (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const ok = spawnSync('apt-get', ['update'], { stdio: ['ignore', 2, 2], env }).status === 0 && spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: ['ignore', 2, 2], env }).status === 0;
  if (!ok) console.error(`npm test: apt-get could not install ${missing.join(', ')}; the tests that need them will fail`);
}
