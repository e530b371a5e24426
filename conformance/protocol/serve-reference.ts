// The built-in reference implementation served over the protocol on standard input and
// output, for every profile:
//   dirtyspec run --exec "node --import tsx conformance/protocol/serve-reference.ts"
// It shows the protocol is complete (the reference conforms through it exactly as it does
// in process) and is the partner of the round-trip benchmark (bench/protocol.ts).
import { referenceAdapters } from '../adapters/registry.ts';
import { PROFILES } from '../adapters/types.ts';
import { serve } from './serve.ts';

await serve(
  PROFILES.map((p) => referenceAdapters[p]),
  'dirtyspec-reference (served over the protocol)',
);
