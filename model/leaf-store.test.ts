// The model's leaf store: what it holds at each place, the order it visits a range in, and
// copies that do not see each other's writes. A small model-based run compares it with a
// plain map of every leaf.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Level } from '../spec/descriptor/encoding.ts';
import { LeafStore, leafKey, leafKeyIova, leafKeyLevel, leafPlace } from './leaf-store.ts';

const PAGE = 0x1000;
const MiB2 = 0x20_0000;
const GiB = 0x4000_0000;
const SIZE = { 1: GiB, 2: MiB2, 3: PAGE } as const;

interface Leaf {
  readonly iova: number;
  readonly level: Level;
  readonly tag?: string;
}

const inRange = (store: LeafStore<Leaf>, iova: number, size: number): string[] => {
  const out: string[] = [];
  store.visit(iova, size, (l) => {
    out.push(`${l.level}:${l.iova.toString(16)}`);
    return false;
  });
  return out;
};

test('a key names its place, for low IOVAs and for the last page below 2^48', () => {
  for (const [iova, level] of [
    [0, 3],
    [MiB2, 2],
    [GiB, 1],
    [2 ** 48 - PAGE, 3],
    [2 ** 48 - MiB2, 2],
    [2 ** 47, 1],
  ] as const) {
    const k = leafKey(iova, level);
    assert.is(leafKeyIova(k), iova);
    assert.is(leafKeyLevel(k), level);
    assert.equal(leafPlace(k), { iova, level });
  }
  // Ordered by IOVA, then level: a block before the page at its address.
  assert.ok(leafKey(MiB2, 2) < leafKey(MiB2, 3));
  assert.ok(leafKey(MiB2, 3) < leafKey(MiB2 + PAGE, 2));
});

test('a range is visited in IOVA order, a block before the pages after it, with the blocks that start before it', () => {
  const s = new LeafStore<Leaf>();
  s.set({ iova: 0, level: 2 });
  s.set({ iova: MiB2 + PAGE, level: 3 });
  s.set({ iova: MiB2, level: 3 });
  s.set({ iova: GiB, level: 1 });
  s.set({ iova: 2 * GiB + MiB2, level: 2 });
  assert.is(s.size, 5);
  assert.equal(inRange(s, PAGE, 3 * GiB), ['2:0', '3:200000', '3:201000', '1:40000000', '2:80200000']);
  // A range inside a block finds the block; one ending at a page's first byte finds that page.
  assert.equal(inRange(s, GiB + 5 * MiB2, PAGE), ['1:40000000']);
  assert.equal(inRange(s, MiB2 - PAGE, PAGE + 1), ['2:0', '3:200000']);
  assert.equal(inRange(s, 4 * MiB2, MiB2), []);
  assert.equal(
    s.values().map((l) => l.iova),
    [0, MiB2, MiB2 + PAGE, GiB, 2 * GiB + MiB2],
  );
});

test('a visit stops when its visitor says so', () => {
  const s = new LeafStore<Leaf>();
  for (let i = 0; i < 10; i++) s.set({ iova: i * PAGE, level: 3 });
  let seen = 0;
  assert.is(
    s.visit(0, MiB2, () => ++seen === 4),
    4,
  );
});

test('a copy and its original do not see each other’s writes', () => {
  const a = new LeafStore<Leaf>();
  a.set({ iova: 0, level: 3, tag: 'a' });
  a.set({ iova: MiB2, level: 2, tag: 'a' });
  const b = a.copy();
  b.set({ iova: 0, level: 3, tag: 'b' });
  b.delete(MiB2, 2);
  a.set({ iova: PAGE, level: 3, tag: 'a' });
  assert.is(a.at(0, 3)?.tag, 'a');
  assert.is(a.at(MiB2, 2)?.tag, 'a');
  assert.is(a.size, 3);
  assert.is(b.at(0, 3)?.tag, 'b');
  assert.is(b.at(MiB2, 2), undefined);
  assert.is(b.at(PAGE, 3), undefined);
  assert.is(b.size, 1);
});

test('a leaf at level 0, or not aligned to its size, is refused with its place named', () => {
  const s = new LeafStore<Leaf>();
  assert.throws(() => s.set({ iova: 0, level: 0 }), /0x0 L0: leaves are at levels 1 to 3/);
  assert.throws(() => s.set({ iova: PAGE, level: 2 }), /0x1000 L2/);
  assert.is(s.at(0, 0), undefined);
});

test('the store holds what a plain map of places holds, through sets, deletes and copies', () => {
  const place = fc.tuple(fc.constantFrom<Level>(1, 2, 3), fc.nat(5)).map(([level, i]) => ({ level, iova: level === 1 ? i * GiB : level === 2 ? i * MiB2 : i * 509 * PAGE }));
  const op = fc.oneof(
    place.map((p) => ({ kind: 'set' as const, ...p })),
    place.map((p) => ({ kind: 'delete' as const, ...p })),
    fc.constant({ kind: 'copy' as const }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), fc.nat(6 * GiB), fc.integer({ min: 1, max: 2 * GiB }), (ops, from, size) => {
      let store = new LeafStore<Leaf>();
      let plain = new Map<string, Leaf>();
      for (const o of ops) {
        if (o.kind === 'copy') {
          // Keep writing the original: the copy must keep what it had.
          const copy = store.copy();
          const frozen = new Map(plain);
          store.set({ iova: 0, level: 3, tag: 'after copy' });
          plain.set('3:0', { iova: 0, level: 3, tag: 'after copy' });
          assert.equal(
            copy.values().map((l) => `${l.level}:${l.iova}:${l.tag}`),
            [...frozen.values()].sort((x, y) => x.iova - y.iova || x.level - y.level).map((l) => `${l.level}:${l.iova}:${l.tag}`),
          );
          [store, plain] = [copy, frozen];
          continue;
        }
        const k = `${o.level}:${o.iova}`;
        if (o.kind === 'set') {
          assert.is(store.set({ iova: o.iova, level: o.level, tag: k }), !plain.has(k));
          plain.set(k, { iova: o.iova, level: o.level, tag: k });
        } else {
          assert.is(store.delete(o.iova, o.level), plain.delete(k));
        }
      }
      assert.is(store.size, plain.size);
      const want = [...plain.values()].filter((l) => l.iova < from + size && from < l.iova + SIZE[l.level as 1 | 2 | 3]).sort((x, y) => x.iova - y.iova || x.level - y.level);
      const got: Leaf[] = [];
      store.visit(from, size, (l) => {
        got.push(l);
        return false;
      });
      assert.equal(
        got.map((l) => `${l.level}:${l.iova}`),
        want.map((l) => `${l.level}:${l.iova}`),
      );
      assert.is(store.countIn(from, size), want.length);
      const blocks: Leaf[] = [];
      store.visit(
        from,
        size,
        (l) => {
          blocks.push(l);
          return false;
        },
        false,
      );
      assert.equal(
        blocks.map((l) => `${l.level}:${l.iova}`),
        want.filter((l) => l.level < 3).map((l) => `${l.level}:${l.iova}`),
      );
    }),
    { numRuns: 300 },
  );
});

test.run();
