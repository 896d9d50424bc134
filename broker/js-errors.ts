/** JetStream API errors: the codes we branch on, and the mapping of client errors onto our codes. */
import { errors, SbError } from './errors.js';

/** JetStream `err_code`s that decide a branch somewhere in `broker/`. */
export const JS_ERR = {
  consumerNotFound: 10014,
  streamNameInUse: 10058,
  streamNotFound: 10059,
  subjectsOverlap: 10065,
  wrongLastSequence: 10071,
} as const;

/** The JetStream API error code of `e`, if it is one. */
export function jsErrCode(e: unknown): number | undefined {
  const api = (e as { apiError?: () => { err_code?: number } }).apiError;
  return typeof api === 'function' ? api.call(e).err_code : undefined;
}

/** A timeout, lost connection or missing responder is SB_ERR_BACKBONE_UNAVAILABLE (retryable); the rest is internal. */
export function toBackboneError(e: unknown): SbError {
  if (e instanceof SbError) return e;
  const name = (e as { name?: string }).name ?? '';
  const msg = e instanceof Error ? e.message : '';
  if (/Timeout|Connection|NoResponders|closed/i.test(name) || /timeout|no responders|disconnect|closed/i.test(msg)) {
    return errors.backboneUnavailable(e);
  }
  return errors.internal(e);
}
