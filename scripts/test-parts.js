// How scripts/test.js cuts the test files into parts (one uvu process each) for its two
// runners, which take the parts in order, each the next as it finishes (part-queue.js).
//
// The run ends when the last part does, so what costs wall time is the part still running
// after the other runner has run out: at worst nearly the whole of the last part taken. Equal
// parts make that tail as long as a part (in CI, with eight parts of about 75 s, the two
// runners ended up to 40 s apart). So the parts shrink as the run goes on, the way guided
// self-scheduling sizes its chunks: each part's capacity is a quarter of the weight not yet
// given to a part (the two runners' shares, halved), and never less than `minimum` (a
// remainder under it joins the last part). Early
// parts are large (a process start and its imports cost 1.5 to 3.5 s of CPU each), the
// last ones small, so the runners end close together however far the weights are off.

/**
 * The parts, in the order the runners take them: the covered files (`covered(f)`) as one part
 * first (the coverage report needs only it, and starts when it ends), then the others in
 * parts of shrinking capacity. Files are placed heaviest first, each into the first part
 * with room for it, or, where none has room, the part with the most room left (a file
 * heavier than any capacity gets a part of its own size). Within a part, files are in name
 * order. Empty parts are dropped; the order is by weight, heaviest first, after the covered part.
 *
 * @param {readonly string[]} files
 * @param {(file: string) => number} weight  CPU seconds the file takes alone
 * @param {(file: string) => boolean} covered  whether the file runs with coverage on
 * @param {{ share?: number, minimum?: number }} [sizing]
 * @returns {{ files: string[], weight: number, covered: boolean }[]}
 */
export function planParts(files, weight, covered, { share = 4, minimum = 15 } = {}) {
  if (!(share > 1)) throw new RangeError(`planParts: share must be more than 1 (got ${share})`);
  if (!(minimum > 0)) throw new RangeError(`planParts: minimum must be positive (got ${minimum})`);
  const coveredPart = { files: files.filter(covered), weight: 0, covered: true };
  for (const f of coveredPart.files) coveredPart.weight += weight(f);
  const rest = files.filter((f) => !covered(f)).sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));
  const capacities = [];
  for (let left = rest.reduce((sum, f) => sum + weight(f), 0); left > 0; ) {
    const wanted = Math.max(left / share, minimum);
    // What would be left after this part, if less than the minimum, joins it: no part of a few seconds at the end.
    const capacity = left - wanted < minimum ? left : wanted;
    capacities.push(capacity);
    left -= capacity;
  }
  const parts = capacities.map((capacity) => ({ files: [], weight: 0, covered: false, room: capacity }));
  for (const f of rest) {
    const w = weight(f);
    const part = parts.find((p) => p.room >= w) ?? parts.reduce((a, b) => (b.room > a.room ? b : a));
    part.files.push(f);
    part.weight += w;
    part.room -= w;
  }
  const uncovered = parts
    .filter((p) => p.files.length > 0)
    .map(({ files: fs, weight: w }) => ({ files: fs.sort(), weight: w, covered: false }))
    .sort((a, b) => b.weight - a.weight);
  coveredPart.files.sort();
  return [...(coveredPart.files.length > 0 ? [coveredPart] : []), ...uncovered];
}
