import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADDRESS_LIMIT, IOMMU_READ, IOMMU_WRITE, mapRefusal, mergeRefusal, readAndClearRefusal, splitRefusal, unmapRefused } from './arguments.ts';

const RW = IOMMU_READ | IOMMU_WRITE;
const PAGE = 0x1000;
const EINVAL = 22;
const ENOENT = 2;
const ERANGE = 34;

test('[MAP-6] an iova, paddr or size not a multiple of 4 KiB is -EINVAL', () => {
  assert.equal(mapRefusal(0x800, 0, PAGE, RW), { errnos: [-EINVAL], req: 'MAP-6' });
  assert.equal(mapRefusal(0, 0x10, PAGE, RW), { errnos: [-EINVAL], req: 'MAP-6' });
  assert.equal(mapRefusal(0, 0, PAGE + 1, RW), { errnos: [-EINVAL], req: 'MAP-6' });
});

test('[MAP-6] a map of size 0 may answer 0 or -EINVAL', () => {
  assert.equal(mapRefusal(0, 0, 0, RW), { errnos: [0, -EINVAL], req: 'MAP-6' });
});

test('[MAP-7] an input or output range reaching past 2^48 is -ERANGE, one ending exactly there is good', () => {
  assert.equal(mapRefusal(ADDRESS_LIMIT - PAGE, 0, 2 * PAGE, RW), { errnos: [-ERANGE], req: 'MAP-7' });
  assert.equal(mapRefusal(0, ADDRESS_LIMIT, PAGE, RW), { errnos: [-ERANGE], req: 'MAP-7' });
  assert.is(mapRefusal(ADDRESS_LIMIT - PAGE, ADDRESS_LIMIT - PAGE, PAGE, RW), undefined);
});

test('[MAP-8] a prot with neither IOMMU_READ nor IOMMU_WRITE maps nothing: -EINVAL, or 0 as before v6.11', () => {
  assert.equal(mapRefusal(0, 0, PAGE, 0), { errnos: [-EINVAL, 0], req: 'MAP-8' });
  assert.is(mapRefusal(0, 0, PAGE, IOMMU_READ), undefined);
});

test('[MAP-8] [MAP-6] [MAP-7] with two faults the first check answers: alignment, an address past 2^48, prot, then a range crossing 2^48', () => {
  assert.equal(mapRefusal(ADDRESS_LIMIT + 0x800, 0, PAGE, RW)?.errnos, [-EINVAL]);
  assert.equal(mapRefusal(ADDRESS_LIMIT, 0, PAGE, 0)?.errnos, [-ERANGE]);
  assert.equal(mapRefusal(ADDRESS_LIMIT - PAGE, 0, 2 * PAGE, 0), { errnos: [-EINVAL, 0], req: 'MAP-8' });
  assert.equal(mapRefusal(0x800, 0, PAGE, 0)?.req, 'MAP-6');
});

test('[UNMAP-2] an unaligned iova or size, a size of 0, or an iova at or past 2^48 unmaps nothing', () => {
  assert.ok(unmapRefused(0x800, PAGE));
  assert.ok(unmapRefused(0, PAGE + 0x100));
  assert.ok(unmapRefused(0, 0));
  assert.ok(unmapRefused(ADDRESS_LIMIT, PAGE));
  assert.not.ok(unmapRefused(ADDRESS_LIMIT - PAGE, PAGE));
});

test('[CLEAR-5] a read-and-clear of size 0 or past 2^48 is -EINVAL, the last page below 2^48 is good', () => {
  assert.is(readAndClearRefusal(0, 0), -EINVAL);
  assert.is(readAndClearRefusal(ADDRESS_LIMIT - PAGE, 2 * PAGE), -EINVAL);
  assert.is(readAndClearRefusal(ADDRESS_LIMIT - PAGE, PAGE), undefined);
});

test('[SPLIT-3] a split where nothing is mapped is -ENOENT, at a page or past 2^48 -EINVAL, at a block nothing', () => {
  assert.is(splitRefusal(0, undefined), -ENOENT);
  assert.is(splitRefusal(0, 3), -EINVAL);
  assert.is(splitRefusal(ADDRESS_LIMIT, 2), -EINVAL);
  assert.is(splitRefusal(0, 2), undefined);
});

test('[MERGE-3] a merge at a bad level or past 2^48 is -EINVAL whatever is there', () => {
  assert.equal(mergeRefusal(0, 3, 'table'), [-EINVAL]);
  assert.equal(mergeRefusal(0, 0, 'nothing'), [-EINVAL]);
  assert.equal(mergeRefusal(ADDRESS_LIMIT, 2, 'table'), [-EINVAL]);
});

test('[MERGE-3] a merge over nothing is -ENOENT (-EINVAL over a table left empty), over a block -EINVAL, over a table it is decided by the pages', () => {
  assert.equal(mergeRefusal(0, 2, 'nothing'), [-ENOENT, -EINVAL]);
  assert.equal(mergeRefusal(0, 2, 'block'), [-EINVAL]);
  assert.is(mergeRefusal(0, 2, 'table'), undefined);
});

test.run();
