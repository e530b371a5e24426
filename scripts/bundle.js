// Step 5 of scripts/build.js: the command (conformance/cli/main.js) and the campaign's
// worker thread (conformance/campaign/worker.js) each bundled into one file beside it
// (main.bundle.js, worker.bundle.js), which bin/dirtyspec.js and the pool start when
// present. Node's module loader resolves, reads and links every module of the compiled
// tree one by one: a process or thread spent about 0.65 s of CPU starting from the tree
// and 0.40 s from one file (`dirtyspec run --profile iova-bitmap --runs 20`, 2-core
// machine), and the tests start the command a few hundred times.
//
// What the bundle leaves outside: packages with native code or their own loaders, and
// those only some runs load (koffi for --lib, tsx for .ts adapters, ajv, @viz-js/viz).
// Every `import.meta.url` of a compiled module becomes that module's own URL, computed
// from the bundle's, so paths the code resolves relative to itself (the protocol schemas,
// bin/, served fixtures) resolve as they do from the tree. An adapter module that imports
// the package (dirtyspec/reference) loads the tree: another copy of the kit's modules,
// which the kit allows for (conformance/adapters/reference.ts checks memory by shape).
import { readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

export const BUNDLES = [
  ['conformance/cli/main.js', 'conformance/cli/main.bundle.js'],
  ['conformance/campaign/worker.js', 'conformance/campaign/worker.bundle.js'],
];
const EXTERNAL = ['koffi', 'tsx', 'tsx/*', 'ajv', 'ajv-formats', '@viz-js/viz'];

/** Bundles BUNDLES in `dist` (a compiled tree); returns what it did, for the build's line. Without esbuild (a devDependency), leaves the tree alone. */
export async function bundleEntries(dist) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    return 'no bundles (esbuild is not installed: the command starts from the module tree)';
  }
  for (const [entry, out] of BUNDLES) {
    const outfile = join(dist, out);
    const ownUrl = {
      name: 'own-import-meta-url',
      setup(build) {
        build.onLoad({ filter: /\.js$/ }, (args) => {
          if (!args.path.startsWith(dist + sep)) return undefined;
          const text = readFileSync(args.path, 'utf8');
          if (!text.includes('import.meta.url')) return undefined;
          const rel = relative(dirname(outfile), args.path).split(sep).join('/');
          return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'js' };
        });
      },
    };
    await esbuild.build({
      entryPoints: [join(dist, entry)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: EXTERNAL,
      plugins: [ownUrl],
      logLevel: 'warning',
      // Packages bundled from CommonJS (fast-check) call require() for Node's built-ins.
      banner: { js: "import { createRequire as __dirtyspecRequire } from 'node:module'; const require = __dirtyspecRequire(import.meta.url);" },
    });
  }
  return `${BUNDLES.length} bundles`;
}
