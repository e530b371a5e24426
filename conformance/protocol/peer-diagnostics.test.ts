// What the diagnostics of a failed --exec session show of the lines the kit had not read:
// a line that ended with a newline is shown as a whole line, and only a true partial
// line as "(no newline yet)".
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExecPeer } from './peer.ts';

async function handshakeFailure(command: string): Promise<string> {
  try {
    await ExecPeer.start(command, { timeoutMs: 2000 });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the handshake succeeded');
}

test('lines after the failing one that did end with a newline are not shown as "(no newline yet)"', async () => {
  const message = await handshakeFailure(`printf 'not json\\n{"id":1,"result":{}}\\n'; sleep 5`);
  assert.match(message, /not JSON/);
  assert.match(message, /\n {2}< not json\n/);
  assert.match(message, /\n {2}< \{"id":1,"result":\{\}\} {3}\(not read: the session had ended\)/);
  assert.not.match(message, /no newline yet/);
  assert.not.match(message, /\\u000a/);
});

test('a partial last line is shown as "(no newline yet)", after the whole lines before it', async () => {
  const message = await handshakeFailure(`printf 'not json\\n{"id":1}\\n{"id":'; sleep 5`);
  assert.match(message, /\n {2}< \{"id":1\} {3}\(not read: the session had ended\)\n {2}< \(no newline yet\) \{"id": {3}<- a message must end with a newline/);
});

test.run();
