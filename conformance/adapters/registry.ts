// Which implementation a run checks: the built-in reference by default, or a third
// party's adapters loaded from a module path.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { referenceIovaBitmapAdapter, referenceVfioType1Adapter, referenceSmmuDriverAdapter, referenceSmmuHwAdapter } from './reference.ts';
import { PROFILES, type Adapter, type ProfileName } from './types.ts';

export const referenceAdapters: Record<ProfileName, Adapter> = {
  'smmu-hw': referenceSmmuHwAdapter(),
  'smmu-driver': referenceSmmuDriverAdapter(),
  'iova-bitmap': referenceIovaBitmapAdapter(),
  'vfio-type1': referenceVfioType1Adapter(),
};

export class AdapterLoadError extends Error {}

function isAdapter(x: unknown): x is Adapter {
  if (typeof x !== 'object' || x === null) return false;
  const a = x as { profile?: unknown; name?: unknown; create?: unknown };
  return typeof a.name === 'string' && typeof a.create === 'function' && PROFILES.includes(a.profile as ProfileName);
}

/**
 * Loads a module whose default export (or export `adapters`) is an adapter or an array of
 * adapters, one per profile it implements.
 */
export async function loadAdapters(modulePath: string): Promise<Map<ProfileName, Adapter>> {
  const url = pathToFileURL(isAbsolute(modulePath) ? modulePath : resolve(process.cwd(), modulePath)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new AdapterLoadError(`--adapter ${modulePath}: could not load the module: ${(e as Error).message}`);
  }
  const exported = mod.default ?? mod.adapters;
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
