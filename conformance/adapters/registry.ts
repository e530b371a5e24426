// Which implementation a run checks: the built-in reference by default, or a third
// party's adapters loaded from a module path.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ProfileModule, profiles } from '../profiles/index.ts';
import { coversProfile } from '../../spec/contracts/index.ts';
import { PROFILES, type Adapter, type AdapterOf, type ContractName, type IovaBitmapContractName, type ProfileName } from './types.ts';

/** The reference implementation's adapter of every profile, from the profile registry. */
export const referenceAdapters = Object.fromEntries(PROFILES.map((p) => [p, profiles[p].reference()])) as { readonly [P in ProfileName]: AdapterOf<P> };

/**
 * The reference's adapter of `profile` playing a contract of the profile's kind (its
 * module's `contracts`): driver contract `contract` on a 'driver' profile (smmu), contract
 * `iovaBitmapContract` (linux or hardened) on an 'iova-bitmap' one; the same implementation
 * with options. A profile with no contracts, or strict, or a driver contract whose
 * `profiles` do not name it (linux-upstream on vfio-type1), gets the plain reference.
 */
export function referenceAdapterFor(profile: ProfileName, contract: ContractName | undefined, iovaBitmapContract?: IovaBitmapContractName): Adapter {
  const m = profiles[profile] as ProfileModule;
  const asked = m.contracts === 'driver' ? (contract === undefined || contract === 'strict' || !coversProfile(contract, profile) ? undefined : contract) : m.contracts === 'iova-bitmap' ? iovaBitmapContract : undefined;
  return asked === undefined ? referenceAdapters[profile] : m.reference(asked);
}

export class AdapterLoadError extends Error {}

function isAdapter(x: unknown): x is Adapter {
  if (typeof x !== 'object' || x === null) return false;
  const a = x as { profile?: unknown; name?: unknown; create?: unknown };
  return typeof a.name === 'string' && typeof a.create === 'function' && PROFILES.includes(a.profile as ProfileName);
}

/** The extensions loaded through tsx (TypeScript); anything else is imported by Node as it is. */
const TYPESCRIPT = /\.(?:ts|mts|cts)$/;

/**
 * Imports an adapter module. TypeScript goes through tsx's `tsImport`, which loads the file
 * as an ES module whatever the nearest package.json's "type" says: a `.ts` adapter with
 * `import`/`export` in a default npm project ("type": "commonjs") would otherwise be
 * compiled to CommonJS and fail with "Cannot require() ES Module ... in a cycle". tsx is
 * loaded only then, so JavaScript adapters and the compiled CLI never need it.
 */
async function importModule(url: string): Promise<Record<string, unknown>> {
  if (!TYPESCRIPT.test(new URL(url).pathname)) return (await import(url)) as Record<string, unknown>;
  const { tsImport } = await import('tsx/esm/api');
  return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
}

/**
 * What a module exports as its adapters: its default export, or its export `adapters`.
 * A CommonJS module's default is its whole `module.exports`; when that is an object holding
 * `default` (a transpiled `export default`) or `adapters`, those are what it exports.
 */
function exportedAdapters(mod: Record<string, unknown>): unknown {
  const exported = mod.default ?? mod.adapters;
  if (typeof exported === 'object' && exported !== null && !Array.isArray(exported) && !isAdapter(exported)) {
    const inner = exported as { default?: unknown; adapters?: unknown };
    return inner.default ?? inner.adapters ?? exported;
  }
  return exported;
}

/**
 * Loads a module whose default export (or export `adapters`) is an adapter or an array of
 * adapters, one per profile it implements: ESM or CommonJS, `.js`, `.mjs`, `.cjs`, or
 * TypeScript (`.ts`, `.mts`, `.cts`) in any package type.
 */
export async function loadAdapters(modulePath: string): Promise<Map<ProfileName, Adapter>> {
  const url = pathToFileURL(isAbsolute(modulePath) ? modulePath : resolve(process.cwd(), modulePath)).href;
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(url);
  } catch (e) {
    throw new AdapterLoadError(`--adapter ${modulePath}: could not load the module: ${(e as Error).message}`);
  }
  const exported = exportedAdapters(mod);
  const list = Array.isArray(exported) ? exported : [exported];
  const out = new Map<ProfileName, Adapter>();
  for (const [i, a] of list.entries()) {
    if (!isAdapter(a)) {
      throw new AdapterLoadError(`--adapter ${modulePath}: export ${Array.isArray(exported) ? `[${i}]` : 'default'} is not an adapter: it needs profile (one of ${PROFILES.join(', ')}), name (a string) and create (a function)`);
    }
    if (out.has(a.profile)) throw new AdapterLoadError(`--adapter ${modulePath}: two adapters for profile ${a.profile}`);
    out.set(a.profile, a);
  }
  if (out.size === 0) throw new AdapterLoadError(`--adapter ${modulePath}: exports no adapter`);
  return out;
}
