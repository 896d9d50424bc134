/**
 * The broadcast wire frame (frames.ts wireTextFrame), read back by the `ws` library's own frame
 * parser at each length encoding boundary (7-bit, 16-bit, 64-bit lengths; RFC 6455 §5.2).
 */
import assert from 'node:assert/strict';
import type { Writable } from 'node:stream';
import * as ws from 'ws';
import { wireTextFrame } from '../../gateways/ws/frames.js';

// ws's frame parser (a Writable); @types/ws does not declare it.
const { Receiver } = ws as unknown as { Receiver: new (opts: { isServer: boolean; maxPayload: number }) => Writable };

/** Parses `frame` as a client would (unmasked server frames) and returns the text messages. */
function parse(frame: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const got: string[] = [];
    const r = new Receiver({ isServer: false, maxPayload: 0 });
    r.on('message', (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, false);
      got.push(data.toString('utf8'));
    });
    r.on('error', reject);
    r.write(frame, () => resolve(got));
  });
}

describe('WebSocket broadcast wire frame', function () {
  for (const n of [0, 1, 125, 126, 127, 65_535, 65_536, 200_000]) {
    it(`frames a ${n}-byte text payload the way ws reads it`, async function () {
      const text = 'x'.repeat(n);
      const frame = wireTextFrame(Buffer.from(text));
      assert.deepEqual(await parse(frame), [text]);
      // Two frames back to back stay two messages: the length is exact.
      assert.deepEqual(await parse(Buffer.concat([frame, wireTextFrame(Buffer.from('é'))])), [text, 'é']);
    });
  }
});
