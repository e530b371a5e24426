import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { printable } from './printable.ts';

test('control and bidi-formatting characters are shown as \\uXXXX; a single line keeps no newline', () => {
  assert.is(printable('evil\n\u001b[8m\u202Eok'), 'evil\\u000a\\u001b[8m\\u202eok');
  assert.is(printable('plain text, ünïcödé'), 'plain text, ünïcödé');
});

test('multi-line text (standard error) keeps its newlines and tabs, nothing else', () => {
  assert.is(printable('a\n\tb\r\u0000', true), 'a\n\tb\\u000d\\u0000');
});

test.run();
