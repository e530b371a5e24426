import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clearsLeaf } from '../descriptor/clear-range.ts';
import { dirtyBitmapBytes, dirtyBitmapPages, dirtyBitmapSet, newDirtyBitmap } from './dirty-bitmap.ts';

test('[BITMAP-1] a bitmap is ALIGN(pages, 64) / 8 bytes', () => {
  assert.equal([0, 1, 64, 65, 512].map(dirtyBitmapBytes), [0, 8, 8, 16, 64]);
  assert.is(newDirtyBitmap(0x3000).length, 8);
});

test('[BITMAP-1] bit i of u64 word i/64 (little-endian bytes) is page iova + i * 4096', () => {
  const b = newDirtyBitmap(0x100_000);
  dirtyBitmapSet(b, 0x10_0000, 0x10_0000, 0x10_0000 + 65 * 4096, 4096);
  assert.is(b[8], 0b10, 'page 65: word 1, bit 1, byte 8');
  assert.equal(dirtyBitmapPages(b, 0x10_0000), [0x10_0000 + 65 * 4096]);
});

test('[BITMAP-2] recording a leaf marks only its pages inside the range', () => {
  const b = newDirtyBitmap(0x4000);
  dirtyBitmapSet(b, 0x1000, 0x4000, 0, 0x20_0000);
  assert.equal(dirtyBitmapPages(b, 0x1000), [0x1000, 0x2000, 0x3000, 0x4000]);
  const c = newDirtyBitmap(0x4000);
  dirtyBitmapSet(c, 0x1000, 0x4000, 0x10_0000, 0x1000);
  assert.equal(dirtyBitmapPages(c, 0x1000), []);
});

test('[CLEAR-4] only a leaf wholly inside the range is cleared', () => {
  assert.ok(clearsLeaf(0x20_0000, 0x20_0000, 0x20_0000, 0x20_0000));
  assert.not.ok(clearsLeaf(0, 0x20_0000, 0x1000, 0x2000));
  assert.not.ok(clearsLeaf(0, 0x20_0000, 0, 0x1f_f000));
  assert.ok(clearsLeaf(0x1000, 0x1000, 0, 0x20_0000));
});

test.run();
