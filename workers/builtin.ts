/**
 * The job handlers that ship with Switchboard. `switchboard worker` and `switchboard dev` load these
 * before any plugin module; a plugin that serves the same type replaces the built-in one.
 * Job families add their handler here (e.g. `winrm.exec`).
 */
import type { JobHandler } from './types.js';
import { createWinrmHandler } from './winrm/handler.js';

/** Every built-in handler, freshly made (handlers may hold state such as pools). */
export function builtinHandlers(): JobHandler[] {
  return [createWinrmHandler()];
}
