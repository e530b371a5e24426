// Colour in npm test's output: only on a terminal, and never when NO_COLOR is set and not
// empty (https://no-color.org). uvu forces colour (it sets FORCE_COLOR) unless given
// --no-color, so a log piped to a file kept its ANSI escapes.

/** Whether to colour: stdout is a terminal and NO_COLOR is absent or empty. */
export function useColour(isTTY, env) {
  return isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

/** uvu's flags for that choice. */
export function uvuColourArgs(colour) {
  return colour ? [] : ['--no-color'];
}

/** The environment of the child processes: without colour, NO_COLOR set and FORCE_COLOR removed. */
export function colourEnv(colour, env) {
  if (colour) return { ...env };
  const { FORCE_COLOR: _forced, ...rest } = env;
  return { ...rest, NO_COLOR: '1' };
}
