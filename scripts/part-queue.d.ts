// Types of part-queue.js (plain JavaScript: scripts/test.js runs without a TypeScript loader).
export function partQueue(count: number, waits: (part: number) => boolean, ready: Promise<unknown>): { next(): Promise<number> };
