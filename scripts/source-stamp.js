// The stamp of the sources dist/ was built from: the path, size and modification time of
// every file that `npm run build` reads or copies. scripts/build.js writes it to
// dist/.source-stamp; bin/dirtyspec.js, in a checkout, runs the compiled dist/ only when
// the stamp of the sources now is the same, and the TypeScript sources through tsx
// otherwise. A file saved again unchanged makes the stamp differ too: the sources then run,
// which is right, only slower. Statting the few hundred files takes a few milliseconds.
import { readdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** What the build reads: these folders (every file in them but what tsconfig.build.json excludes), and these files. */
const FOLDERS = ['spec', 'model', 'impl', 'conformance', 'bin'];
const FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json'];
/** Not built, and written to while the tests run (the C example's build/). */
const SKIPPED = (path) => path.endsWith('.test.ts') || path.endsWith('/fixtures') || path === 'conformance/examples';

/** The stamp of the sources under `root`: a hex digest. */
export function sourceStamp(root) {
  const lines = [];
  const visit = (rel) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = `${rel}/${e.name}`;
      if (SKIPPED(path)) continue;
      if (e.isDirectory()) visit(path);
      else if (e.isFile()) lines.push(stamp(root, path));
    }
  };
  for (const folder of FOLDERS) visit(folder);
  for (const file of FILES) lines.push(stamp(root, file));
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}

function stamp(root, path) {
  try {
    const s = statSync(join(root, path));
    return `${path} ${s.size} ${s.mtimeMs}`;
  } catch {
    return `${path} absent`;
  }
}
