// npm test's colours: only on a terminal, and never when NO_COLOR is set (https://no-color.org).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { colourEnv, useColour, uvuColourArgs } from './colour.js';

test('colour only when stdout is a terminal and NO_COLOR is not set (or empty)', () => {
  assert.is(useColour(true, {}), true);
  assert.is(useColour(false, {}), false);
  assert.is(useColour(undefined, {}), false);
  assert.is(useColour(true, { NO_COLOR: '1' }), false);
  assert.is(useColour(true, { NO_COLOR: '' }), true);
});

test('without colour, the tests run under uvu print no ANSI escape (uvu forces colour unless told --no-color)', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const uvu = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', uvu, 'conformance/protocol', 'printable\\.test\\.ts$', ...uvuColourArgs(false)], { cwd: root, encoding: 'utf8', env: colourEnv(false, process.env) });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /Passed:/);
  assert.not.match(r.stdout, /\x1b\[/);
  assert.is(colourEnv(false, {}).NO_COLOR, '1');
  assert.is(colourEnv(false, { FORCE_COLOR: '1' }).FORCE_COLOR, undefined);
});

test.run();
