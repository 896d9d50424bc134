/** The WinRM client's public surface (workers/winrm imports only this file and types.ts). */
export { createWinRMClient, encodePs, PS_PREFIX, PS_STDIN_BOOTSTRAP, PS_MAX_LINE, DEFAULT_MAX_OUTPUT_BYTES } from './session.js';
export { cleanClixml } from './clixml.js';
export {
  WinRMError,
  WinRMAuthError,
  WSManFaultError,
  WinRMTransportError,
  WinRMTimeoutError,
  WinRMCancelledError,
  WSMAN_TIMED_OUT,
  WSMAN_INVALID_SELECTORS,
  type WinRMPhase,
} from './errors.js';
export type { WinRMAuth, WinRMTls, WinRMOptions, RunOptions, RunResult, WinRMClient } from './types.js';
