#!/usr/bin/env node
// The dirtyspec command.
//
// Installed from the registry or a packed tarball, it runs the compiled JavaScript in
// dist/ (built by `npm run build`, which `npm ci`, `npm pack` and `npm publish` run first
// through prepare), with no TypeScript loader. In a checkout of the repository, where the
// TypeScript sources are, it runs dist/ only while dist/.source-stamp matches the sources
// (scripts/source-stamp.js): after an edit, or with DIRTYSPEC_SOURCES=1, it runs the
// sources through tsx, so an edit needs no build step and a stale dist/ never runs.
// Compiled, a run starts in about a second less per thread (tsx transforms every module
// as it loads). `dirtyspec spec` always runs from the sources: it reads them.
// From the sources, the package's self-references (`dirtyspec/adapters`, as the example
// adapter imports them) resolve to the sources through the export condition
// "dirtyspec-source" (package.json "exports").
//
// Exit status 2, never 1, for a crash of the tool itself (a missing module, a bug):
// 1 means "does not conform" and must not be said by accident.
import { existsSync } from 'node:fs';

function crash(e) {
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const debug = Boolean(process.env.DIRTYSPEC_DEBUG);
  process.stderr.write(
    `dirtyspec: internal error: ${what}\n` +
      'dirtyspec crashed: this is a fault in dirtyspec or in its installation, not a verdict on the implementation (exit status 2)' +
      `${debug ? '' : '; DIRTYSPEC_DEBUG=1 prints the stack'}\n` +
      (debug && e instanceof Error && e.stack !== undefined ? `${e.stack}\n` : ''),
  );
  process.exit(2);
}
// The reader of our output went away (`dirtyspec list | head`): stop quietly, as other tools do.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  crash(e);
});
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

/** In a checkout: whether `entry` is dist/'s and dist/ was built from the sources as they are now. */
async function builtFromTheseSources(entry) {
  if (entry === undefined || !entry.pathname.includes('/dist/') || process.env.DIRTYSPEC_SOURCES || process.argv[2] === 'spec') return false;
  const stampFile = new URL('../dist/.source-stamp', import.meta.url);
  if (!existsSync(stampFile)) return false;
  const { sourceStamp } = await import('../scripts/source-stamp.js');
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  return readFileSync(stampFile, 'utf8').trim() === sourceStamp(fileURLToPath(new URL('..', import.meta.url)));
}

const SOURCE_CONDITION = `export async function resolve(specifier, context, next) {
  const conditions = context.conditions ?? [];
  return next(specifier, conditions.includes('dirtyspec-source') ? context : { ...context, conditions: [...conditions, 'dirtyspec-source'] });
}`;

try {
  // First, before any of the kit loads: V8's tier-up budget (v8-tuning.js says why). Loaded
  // here, not by a static import, so that a copy without it crashes with exit status 2.
  await import('./v8-tuning.js');
  const source = new URL('../conformance/cli/main.ts', import.meta.url);
  // The package's bin/, or the copy in dist/bin/ that compiled modules reach by the same
  // relative path as the sources reach bin/ (conformance/lib forks it).
  // Bundled into one file (main.bundle.js, scripts/bundle.js) where the build made it, which
  // starts on about 0.25 s less CPU than the module tree.
  const compiled = [
    new URL('../dist/conformance/cli/main.bundle.js', import.meta.url),
    new URL('../dist/conformance/cli/main.js', import.meta.url),
    new URL('../conformance/cli/main.bundle.js', import.meta.url),
    new URL('../conformance/cli/main.js', import.meta.url),
  ];
  let entry = compiled.find((u) => existsSync(u));
  if (existsSync(source) && !(await builtFromTheseSources(entry))) {
    const { register } = await import('tsx/esm/api');
    register();
    const { register: registerHooks } = await import('node:module');
    registerHooks(`data:text/javascript,${encodeURIComponent(SOURCE_CONDITION)}`);
    entry = source;
  } else if (entry === undefined) {
    throw new Error(`${compiled[0].pathname} is missing: this copy of dirtyspec was neither built (npm run build) nor is it a checkout with the TypeScript sources`);
  }
  const { main } = await import(entry.href);
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  crash(e);
}
