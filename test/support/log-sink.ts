/** A pino destination that keeps every log line, for tests that assert what was (not) logged. */
import { Writable } from 'node:stream';

export class LogSink extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.lines.push(chunk.toString('utf8'));
    cb();
  }
}
