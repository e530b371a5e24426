// What an implementation's hello declares reaches the kit's adapters over --exec: each
// field the schema allows is read from the reply (kvmCpuDirtyLogSize was once dropped, so
// a KVM with PML over --exec was run as one without).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kvmDirtyRingOverChannel } from '../profiles/kvm-dirty-ring/wire.ts';
import { ExecPeer } from './peer.ts';
import { protocolProblem } from './schemas.ts';

/** A process that answers the hello with `result`, and bye with `{}` (then exits): nothing else. */
const helloOnly = (result: object) =>
  `${JSON.stringify(process.execPath)} -e ${JSON.stringify(
    `require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => { const m = JSON.parse(l); process.stdout.write(JSON.stringify({ id: m.id, result: m.op === 'hello' ? ${JSON.stringify(result)} : {} }) + '\\n'); if (m.op === 'bye') process.exit(0); });`,
  )}`;

test('a hello with kvmCpuDirtyLogSize and kvmChecksSignals gives the kvm-dirty-ring adapter both over --exec', async () => {
  const result = { protocol: 1, name: 'pml-kvm', profiles: ['kvm-dirty-ring'], kvmCpuDirtyLogSize: 512, kvmChecksSignals: true };
  assert.is(protocolProblem('results/hello', result, 'hello'), undefined, 'the reply is valid');
  const peer = await ExecPeer.start(helloOnly(result), { timeoutMs: 5000 });
  try {
    assert.is(peer.hello.kvmCpuDirtyLogSize, 512);
    assert.is(peer.hello.kvmChecksSignals, true);
    const adapter = kvmDirtyRingOverChannel(peer, 'pml-kvm');
    assert.is(adapter.cpuDirtyLogSize, 512);
    assert.is(adapter.checksSignals, true);
  } finally {
    assert.is(await peer.close(), undefined, 'bye answered, exit status 0');
  }
});

test('a hello without them: no CPU dirty log, no signal checks', async () => {
  const peer = await ExecPeer.start(helloOnly({ protocol: 1, name: 'plain-kvm', profiles: ['kvm-dirty-ring'] }), { timeoutMs: 5000 });
  try {
    const adapter = kvmDirtyRingOverChannel(peer, 'plain-kvm');
    assert.is(adapter.cpuDirtyLogSize, undefined);
    assert.is(adapter.checksSignals, undefined);
  } finally {
    assert.is(await peer.close(), undefined, 'bye answered, exit status 0');
  }
});

test.run();
