// The kit as a user gets it: `npm pack` (which builds dist/ through the prepare script), installed
// offline into a fresh `npm init -y` project ("type": "commonjs"), and used there the
// ways README.md and ADAPTERS.md say: the command, a TypeScript adapter and a JavaScript
// one, a type-check with `tsc --init`'s settings, the programmatic API (README's example,
// read from README.md so the two cannot drift), and a crash of the tool exiting 2.
//
// Offline: the project gets a package-lock.json holding the kit's runtime packages at the
// versions, integrity hashes and tarball addresses of this repository's lock, so npm
// reads the tarballs from its cache (`npm ci` put them there) and asks for no package
// metadata. Without it npm resolves the version ranges afresh, which needs the full
// package documents: `npm ci` never fetches those (it installs from the lock), so an
// offline install fails with ENOTCACHED on a machine set up by `npm ci` alone.
//
// One pack, one install; the checks then run side by side.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const tsc = join(repo, 'node_modules', '.bin', 'tsc');
const work = mkdtempSync(join(tmpdir(), 'dirtyspec-pack-'));
const project = join(work, 'project');
const kit = join(project, 'node_modules', 'dirtyspec');

interface Run {
  readonly status: number | null;
  readonly out: string;
  readonly err: string;
}

// The children run outside c8 (their coverage is not the kit's) and without the npm
// variables of an enclosing `npm test`, which would point npm at this repository.
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_V8_COVERAGE' && (!k.startsWith('npm_') || /^npm_config_(cache|userconfig|globalconfig|registry)$/.test(k))));

function sh(cmd: string, args: readonly string[], cwd: string, timeoutMs = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => void (out += c));
    child.stderr.on('data', (c: Buffer) => void (err += c));
    child.on('error', (e) => resolve({ status: null, out, err: `${err}${e.message}` }));
    child.on('close', (status) => resolve({ status, out, err }));
  });
}

const show = (r: Run): string => `exit ${r.status}\n--- stdout\n${r.out.slice(-3000)}\n--- stderr\n${r.err.slice(-3000)}`;

/** The code of README.md's example of the API: the js block that imports 'dirtyspec'. */
function readmeExample(readme: string): string {
  const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes("from 'dirtyspec'"));
  if (block === undefined) throw new Error("README.md has no ```js block importing from 'dirtyspec'");
  return block;
}

/** The project's lock: the tarball, and the kit's runtime packages exactly as this repository locks them. */
function projectLock(tarball: string): unknown {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const root = lock.packages['']!;
  const registry = (env.npm_config_registry ?? 'https://registry.npmjs.org/').replace(/\/?$/, '/');
  const packages: Record<string, unknown> = {
    '': { name: 'project', version: '1.0.0', license: 'ISC', dependencies: { dirtyspec: `file:${tarball}` } },
    'node_modules/dirtyspec': { version: root.version, resolved: `file:${tarball}`, license: root.license, dependencies: root.dependencies, bin: root.bin, engines: root.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    packages[path] = { ...entry, resolved: `${registry}${name}/-/${name.split('/').pop()}-${String(entry.version)}.tgz` };
  }
  return { name: 'project', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

// A TypeScript adapter as a user copies it: the repository's example, which imports the
// kit by its package name. As `.ts` in a "commonjs" package (the case that failed with
// "Cannot require() ES Module ... in a cycle") and as `.mts` (what type-checks with
// tsc --init's settings; ADAPTERS.md).
const example = readFileSync(join(repo, 'conformance', 'examples', 'wrapped-reference-adapter.ts'), 'utf8');
// A JavaScript adapter in CommonJS: require() and module.exports.
const jsAdapter = `const { referenceIovaBitmapAdapter } = require('dirtyspec/reference');
const reference = referenceIovaBitmapAdapter();
exports.adapters = [{ profile: 'iova-bitmap', name: 'commonjs wrapper', create: (buffer, args) => reference.create(buffer, args) }];
`;
// The API beside the command: the same seed and runs must give the same report.
const apiCheck = `import { run } from 'dirtyspec';
const reference = await run({ profiles: ['iova-bitmap'], runs: 20, seed: 7 });
const mts = await run({ adapters: './typed/adapter.mts', runs: 5, seed: 3 });
console.log(JSON.stringify({ reference, mts }));
`;

let tarballFiles: string[] = [];
const runs = new Map<string, Promise<Run>>();
const result = (name: string): Promise<Run> => runs.get(name) ?? Promise.reject(new Error(`no run ${name}: the set-up failed`));

test.before(async () => {
  const started = performance.now();
  const packed = await sh('npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], repo);
  if (packed.status !== 0) throw new Error(`npm pack failed\n${show(packed)}`);
  // The build's own output comes first on stdout; the JSON is the array after it.
  const [info] = JSON.parse(packed.out.slice(packed.out.search(/^\[/m))) as { filename: string; entryCount: number; files: { path: string }[] }[];
  tarballFiles = info!.files.map((f) => f.path);
  const tarball = join(work, info!.filename);

  mkdirSync(project);
  const init = await sh('npm', ['init', '-y'], project);
  if (init.status !== 0) throw new Error(`npm init -y failed\n${show(init)}`);
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(projectLock(tarball), null, 2));
  const installed = await sh('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], project);
  if (installed.status !== 0) throw new Error(`npm install --offline of the tarball failed (is the npm cache filled by npm ci?)\n${show(installed)}`);
  console.log(`pack.test: npm pack ${info!.entryCount} files, installed offline, in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  writeFileSync(join(project, 'adapter.ts'), example);
  writeFileSync(join(project, 'adapter.js'), jsAdapter);
  mkdirSync(join(project, 'typed'));
  writeFileSync(join(project, 'typed', 'adapter.mts'), example);
  writeFileSync(join(project, 'typed', 'readme-example.mts'), readmeExample(readFileSync(join(repo, 'README.md'), 'utf8')));
  // Every profile's adapter type comes from the package's adapters entry (the KVM ones live beside their profiles).
  writeFileSync(
    join(project, 'typed', 'kvm-types.mts'),
    "import type { DirtyRingCollectorAdapter, KvmDirtyLogAdapter, KvmDirtyRingAdapter } from 'dirtyspec/adapters';\nexport type KvmAdapters = [KvmDirtyLogAdapter, KvmDirtyRingAdapter, DirtyRingCollectorAdapter];\n",
  );
  writeFileSync(join(project, 'readme-example.mjs'), readmeExample(readFileSync(join(repo, 'README.md'), 'utf8')));
  writeFileSync(join(project, 'api-check.mjs'), apiCheck);
  // A copy of the installed kit with one module of its own missing (and the command's
  // bundle, which holds a copy of every module, so that the command loads the tree).
  const broken = join(work, 'broken', 'node_modules', 'dirtyspec');
  cpSync(kit, broken, { recursive: true });
  rmSync(join(broken, 'dist', 'conformance', 'cli', 'main.bundle.js'));
  rmSync(join(broken, 'dist', 'conformance', 'report', 'human.js'));
  const bin = join(project, 'node_modules', '.bin', 'dirtyspec');

  // At most three at a time: the machine has two cores.
  const jobs: [string, () => Promise<Run>][] = [
    ['npx', () => sh('npx', ['--offline', 'dirtyspec', 'run', '--profile', 'iova-bitmap', '--runs', '20', '--seed', '7', '--json', 'cli.json'], project)],
    ['ts adapter', () => sh(bin, ['run', '--adapter', './adapter.ts', '--runs', '5', '--seed', '3'], project)],
    ['js adapter', () => sh(bin, ['run', '--adapter', './adapter.js', '--runs', '5', '--seed', '3'], project)],
    ['tsc', () => sh(tsc, ['--init'], join(project, 'typed')).then((r) => (r.status === 0 ? sh(tsc, ['--noEmit', '-p', '.'], join(project, 'typed')) : r))],
    ['readme example', () => sh(process.execPath, ['readme-example.mjs'], project)],
    ['api', () => sh(process.execPath, ['api-check.mjs'], project)],
    ['crash', () => sh(process.execPath, [join(broken, 'bin', 'dirtyspec.js'), 'run', '--runs', '1'], project)],
    ['repo example', () => sh(process.execPath, [join(repo, 'bin', 'dirtyspec.js'), 'run', '--adapter', 'conformance/examples/wrapped-reference-adapter.ts', '--runs', '5', '--seed', '3'], repo)],
  ];
  let next = 0;
  const lanes = Array.from({ length: 3 }, async () => {
    while (next < jobs.length) {
      const [name, job] = jobs[next++]!;
      const done = job();
      runs.set(name, done);
      await done;
    }
  });
  // Every job is started (and its promise recorded) by the time the lanes settle.
  await Promise.all(lanes);
});

test.after(() => {
  rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the compiled kit, its declarations and schemas, and no tests, fixtures or CI files', () => {
  for (const f of [
    'bin/dirtyspec.js',
    'bin/v8-tuning.js',
    'dist/bin/dirtyspec.js',
    'dist/bin/v8-tuning.js',
    'dist/conformance/api.js',
    'dist/conformance/api.d.ts',
    'dist/conformance/adapters/types.d.ts',
    'dist/conformance/cli/main.js',
    'dist/conformance/cli/main.bundle.js',
    'dist/conformance/campaign/worker.bundle.js',
    'dist/conformance/protocol/schema/protocol.json',
    'dist/conformance/protocol/schema/trace.json',
    'conformance/ADAPTERS.md',
    'README.md',
  ]) {
    assert.ok(tarballFiles.includes(f), `${f} is in the tarball`);
  }
  const unwanted = tarballFiles.filter((f) => /\.test\.|(^|\/)fixtures(\/|\.)|^\.ci\/|^scripts\/|^bench\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('conformance/examples/')));
  assert.equal(unwanted, []);
});

test('npx dirtyspec run --profile iova-bitmap --runs 20 in the installed project: conforms, exit 0', async () => {
  const r = await result('npx');
  assert.is(r.status, 0, show(r));
  assert.match(r.out, /verdict: conforms/);
});

test('a TypeScript adapter with import/export in a "commonjs" package loads (--adapter adapter.ts) and conforms', async () => {
  const r = await result('ts adapter');
  assert.is(r.status, 0, show(r));
  assert.match(r.out, /profile smmu-hw \(adapter reference with a 2-entry IOTLB\): conforms/);
});

test('a CommonJS JavaScript adapter (require, exports.adapters) loads (--adapter adapter.js) and conforms', async () => {
  const r = await result('js adapter');
  assert.is(r.status, 0, show(r));
  assert.match(r.out, /profile iova-bitmap \(adapter commonjs wrapper\): conforms/);
});

test("the adapter, README's example and the KVM adapter types (from dirtyspec/adapters) type-check with tsc --init's settings", async () => {
  const r = await result('tsc');
  assert.is(r.status, 0, show(r));
});

test("README's API example runs in the installed project and prints the profile's verdict", async () => {
  const r = await result('readme example');
  assert.is(r.status, 0, show(r));
  assert.match(r.out, /^iova-bitmap conforms 100 runs/m);
});

test('the API returns the report --json writes for the same seed and runs (durations aside), and loads an .mts adapter', async () => {
  const [api, cli] = [await result('api'), await result('npx')];
  assert.is(api.status, 0, show(api));
  assert.is(cli.status, 0, show(cli));
  const { reference, mts } = JSON.parse(api.out) as { reference: unknown; mts: { verdict: string; profiles: { name: string; adapter: string }[] } };
  const timeless = (report: unknown): unknown => JSON.parse(JSON.stringify(report, (k, v: unknown) => (k === 'seconds' ? 0 : v)));
  assert.equal(timeless(reference), timeless(JSON.parse(readFileSync(join(project, 'cli.json'), 'utf8'))));
  assert.is(mts.verdict, 'conforms');
  assert.equal(
    mts.profiles.map((p) => `${p.name}: ${p.adapter}`),
    ['smmu-hw: reference with a 2-entry IOTLB'],
  );
});

test('a crash of the tool itself (a module of the kit missing) exits 2, saying it is no verdict', async () => {
  const r = await result('crash');
  assert.is(r.status, 2, show(r));
  assert.match(r.err, /internal error: .*human\.js/);
  assert.match(r.err, /not a verdict on the implementation/);
});

test('in the repository, the example adapter imports the kit by its package name and conforms', async () => {
  const r = await result('repo example');
  assert.is(r.status, 0, show(r));
  assert.match(r.out, /profile smmu-hw \(adapter reference with a 2-entry IOTLB\): conforms/);
});

test.run();
