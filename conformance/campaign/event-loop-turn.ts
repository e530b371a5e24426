// Turns of this thread's event loop during a block it runs itself (RunOptions.pause).
//
// A block against an in-process adapter runs on promises alone: its awaits settle at once,
// so the event loop never gets past the microtasks until the block ends. Meanwhile a worker
// thread's messages wait: its results, and so its requests for more blocks (pool.ts). And
// npm start runs the other contracts' campaigns in this thread beside its own blocks
// (cli/run.ts), two chains of promises that keep the microtask queue full between them.
// In npm start a worker sat idle for about 3 s while this thread ran its first blocks; with
// these turns it is idle for none (a worker still gets blocks only once it says it is ready,
// so one that never finishes loading holds none that this thread could not run).
//
// The pause returned here gives the loop a turn (setImmediate: timers and I/O, the workers'
// messages included, are handled before it resumes) once `everyMs` have passed since the
// last turn, and costs nothing otherwise.

/** A RunOptions.pause that yields to the event loop at most once every `everyMs` ms. */
export function eventLoopTurns(everyMs = 20): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < everyMs) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        last = performance.now();
        resolve();
      }),
    );
  };
}
