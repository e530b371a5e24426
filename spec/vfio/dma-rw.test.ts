import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RW_EINVAL, RW_EPERM, dmaRwWalk, rwDirtiedPages } from './dma-rw.ts';

const PG = 0x1000n;
const A = { iova: 0x10_0000n, size: 4n * PG, flags: 3 };
const B = { iova: A.iova + A.size, size: 2n * PG, flags: 1 };
const MAPS = [B, A];

test('[VFIO-RW-1] length 0 is -EINVAL with no chunk', () => {
  const w = dmaRwWalk(MAPS, A.iova, 0n, false);
  assert.is(w.errno, -RW_EINVAL);
  assert.equal(w.chunks, []);
});

test('[VFIO-RW-1] a read across A and B is two chunks, the first clipped at the end of A', () => {
  const w = dmaRwWalk(MAPS, B.iova - 3n, 10n, false);
  assert.is(w.errno, 0);
  assert.equal(
    w.chunks.map((c) => [c.iova, c.length, c.mapping]),
    [
      [B.iova - 3n, 3n, A],
      [B.iova, 7n, B],
    ],
  );
});

test('[VFIO-RW-1] [VFIO-RW-4] an access from B into the hole after it is -EINVAL at the hole, after one chunk', () => {
  const end = B.iova + B.size;
  const w = dmaRwWalk(MAPS, end - 1n, 2n, false);
  assert.equal([w.errno, w.refusedAt, w.chunks.length, w.req], [-RW_EINVAL, end, 1, ['VFIO-RW-1', 'VFIO-RW-4']]);
});

test("[VFIO-RW-2] [VFIO-RW-4] a write from A into read-only B is -EPERM at B, after A's chunk", () => {
  const w = dmaRwWalk(MAPS, B.iova - 1n, 2n, true);
  assert.equal([w.errno, w.refusedAt, w.chunks.length, w.req], [-RW_EPERM, B.iova, 1, ['VFIO-RW-2', 'VFIO-RW-4']]);
});

test('[VFIO-RW-2] a mapping without READ refuses a read too', () => {
  assert.is(dmaRwWalk([{ ...A, flags: 2 }], A.iova, 4n, false).errno, -RW_EPERM);
});

test('[VFIO-RW-3] 2 bytes at PAGE_SIZE - 1 dirty two pages; 8 bytes at a page start dirty one', () => {
  assert.equal(rwDirtiedPages({ iova: A.iova + PG - 1n, length: 2n, mapping: A }), [A.iova, A.iova + PG]);
  assert.equal(rwDirtiedPages({ iova: A.iova + PG, length: 8n, mapping: A }), [A.iova + PG]);
});

test('[VFIO-RW-3] one page and one byte from 0x10 into the page dirty two pages, not one (copied >> pgshift)', () => {
  assert.equal(rwDirtiedPages({ iova: A.iova + 0x10n, length: PG + 1n, mapping: A }), [A.iova, A.iova + PG]);
});

test.run();
