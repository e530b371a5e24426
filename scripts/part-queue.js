// The order scripts/test.js's runners take the test parts in: each takes the first part left
// (in the given order) that can run now. A part that needs a system package still being
// installed in the background (system-deps.js: chromium, for the browser tests) waits for
// it, and the runners take the other parts first; when only such parts are left, they wait.

/**
 * A queue over parts 0..count-1. `waits(i)`: whether part i needs what `ready` brings.
 * `next()` resolves to the index of a part no other call has taken, or -1 when all are taken.
 */
export function partQueue(count, waits, ready) {
  let there = false;
  // Settled either way: an install that failed leaves the waiting parts to fail with their own reason.
  const settle = () => {
    there = true;
  };
  const arrived = ready.then(settle, settle);
  const taken = new Array(count).fill(false);
  return {
    async next() {
      for (;;) {
        const i = taken.findIndex((t, k) => !t && (there || !waits(k)));
        // Taken here, before the caller's await resumes: another runner may call in between.
        if (i >= 0) taken[i] = true;
        if (i >= 0 || taken.every((t) => t)) return i;
        await arrived;
      }
    },
  };
}
