/**
 * Handler plugins: modules whose default export is a JobHandler or an array of them, loaded by path
 * with a dynamic import (under tsx, `.ts` paths work too). Users add job types without touching our
 * code — the Zato "service" idea (docs/workers.md has a worked example).
 */
import { pathToFileURL } from 'node:url';
import type { JobHandler } from './types.js';

/** Imports each module and returns its handlers; throws naming the module that does not export any. */
export async function loadHandlerModules(paths: string[]): Promise<JobHandler[]> {
  const out: JobHandler[] = [];
  for (const path of paths) {
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    } catch (e) {
      throw new Error(`handler module ${path} failed to load: ${(e as Error).message}`, { cause: e });
    }
    const exported = Array.isArray(mod.default) ? mod.default : [mod.default];
    for (const h of exported) {
      if (!isHandler(h)) throw new Error(`handler module ${path}: the default export must be a JobHandler or an array of them`);
      out.push(h);
    }
  }
  return out;
}

/** Built-ins first, then plugins; a later handler of the same type replaces an earlier one. */
export function mergeHandlers(...lists: JobHandler[][]): JobHandler[] {
  const byType = new Map<string, JobHandler>();
  for (const list of lists) for (const h of list) byType.set(h.type, h);
  return [...byType.values()];
}

function isHandler(h: unknown): h is JobHandler {
  const o = h as Partial<JobHandler> | null | undefined;
  return !!o && typeof o.type === 'string' && typeof o.handle === 'function' && typeof o.inputSchema === 'object' && typeof o.outputSchema === 'object';
}
