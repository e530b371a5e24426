// The command line run in process with its output captured: how the tests call dirtyspec.
import type { Io } from './args.ts';
import { main } from './main.ts';

export interface CliResult {
  readonly status: number;
  readonly out: string;
  readonly err: string;
}

export async function runCli(...argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t), errIsTTY: false };
  const status = await main(argv, io);
  return { status, out, err };
}
