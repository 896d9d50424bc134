import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Every path that may hold a secret. Static so pino compiles it once (STYLE §12). Anything that
 * carries credentials must use one of these field names.
 */
export const REDACT_PATHS = [
  'password', '*.password', 'pass', '*.pass', 'token', '*.token', 'secret', '*.secret',
  'apiKey', '*.apiKey', 'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'req.headers.cookie', 'credentials', '*.credentials', 'adminPassword', '*.adminPassword',
];

/** Creates the root logger: pino JSON on stdout (or `destination`), secrets redacted. */
export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream; name?: string } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    name: opts.name ?? 'switchboard',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
