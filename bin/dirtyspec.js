#!/usr/bin/env node
// The dirtyspec command. Loads TypeScript through tsx, then the command-line tool.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../conformance/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
