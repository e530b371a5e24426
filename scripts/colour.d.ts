// Types of colour.js (plain JavaScript: scripts/test.js runs without a TypeScript loader).
export function useColour(isTTY: boolean | undefined, env: Readonly<Record<string, string | undefined>>): boolean;
export function uvuColourArgs(colour: boolean): string[];
export function colourEnv(colour: boolean, env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined>;
