// The incremental descriptor checker (check-descriptors.ts DescriptorChecker) against the full
// walk on page tables a faulty driver builds by hand: the two must name the same difference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CheckedMemory, DescriptorChecker, checkDescriptors } from './check-descriptors.ts';
import { DescriptorModel } from './descriptor-model.ts';
import { RunContext } from './run-context.ts';

const MiB2 = 2 * 1024 * 1024;
const WINDOW = 4 * MiB2;
const TABLE = 0b11n; // a table descriptor at levels 0-2
const OA = 0x8000_0000;
/** A page descriptor as MAP-3 makes it (plain writable): page type, AF, no AP[2], no DBM. */
const page = (oa: number) => BigInt(oa) | (1n << 10n) | 0b11n;

/** 64-bit words by address, as the kit's memory keeps them (model/ may not use impl/'s): loads, stores, the write log. */
class WordMemory implements CheckedMemory {
  writeLog: number[] | undefined = undefined;
  private readonly words = new Map<number, bigint>();
  private next = 0x4000_0000;
  allocFrame(): number {
    this.next += 4096;
    return this.next;
  }
  load(address: number): bigint {
    return this.words.get(address) ?? 0n;
  }
  loadLow(address: number): number {
    return Number(this.load(address) & 0xffff_ffffn);
  }
  loadHigh(address: number): number {
    return Number(this.load(address) >> 32n);
  }
  store(address: number, value: bigint): void {
    this.words.set(address, value);
    this.writeLog?.push(address);
  }
}

/** What each check says: 'pass', or its violation's message. */
function verdicts(memory: WordMemory, checker: DescriptorChecker, model: DescriptorModel, ttb0: number): { incremental: string; full: string } {
  const said = (f: () => void) => {
    try {
      f();
      return 'pass';
    } catch (e) {
      return (e as Error).message;
    }
  };
  return { incremental: said(() => checker.check(model, ttb0, true)), full: said(() => checkDescriptors(model, memory, ttb0, WINDOW)) };
}

test('a table linked from two entries, then unlinked from one: a page written in it is still compared where it is linked', () => {
  const memory = new WordMemory();
  const [ttb0, l1, l2, t] = [memory.allocFrame(), memory.allocFrame(), memory.allocFrame(), memory.allocFrame()];
  memory.store(ttb0, BigInt(l1) | TABLE);
  memory.store(l1, BigInt(l2) | TABLE);
  memory.store(l2, BigInt(t) | TABLE);
  memory.store(t, page(OA));
  const model = new DescriptorModel(new RunContext(), false, false, true);
  model.map([{ iova: 0, level: 3, oa: OA }], true);
  const checker = new DescriptorChecker(memory, WINDOW);
  assert.equal(verdicts(memory, checker, model, ttb0), { incremental: 'pass', full: 'pass' });
  // The second 2 MiB region links the same table (the model maps the page it then shows).
  memory.store(l2 + 8, BigInt(t) | TABLE);
  model.map([{ iova: MiB2, level: 3, oa: OA }], true);
  assert.equal(verdicts(memory, checker, model, ttb0), { incremental: 'pass', full: 'pass' });
  // Unlinked from the second region again; the first still links it.
  memory.store(l2 + 8, 0n);
  model.unmap(MiB2, 4096);
  assert.equal(verdicts(memory, checker, model, ttb0), { incremental: 'pass', full: 'pass' });
  // A page the model does not have, written in the table: the first region shows it.
  memory.store(t + 8, page(OA + 4096));
  const v = verdicts(memory, checker, model, ttb0);
  assert.match(v.full, /expected no leaf at 0x1000 L3/);
  assert.is(v.incremental, v.full);
});

test.run();
