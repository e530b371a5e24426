// Types of test-parts.js (plain JavaScript: scripts/test.js runs without a TypeScript loader).
export function planParts(files: readonly string[], weight: (file: string) => number, covered: (file: string) => boolean, sizing?: { share?: number; minimum?: number }): { files: string[]; weight: number; covered: boolean }[];
