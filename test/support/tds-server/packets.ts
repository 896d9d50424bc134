/**
 * TDS packet framing for the test responder (MS-TDS §2.2.3): an 8-byte header (type, status, big-endian
 * length, SPID, packet id, window) in front of every packet; a message is the packets up to the one whose
 * status has the EOM bit. The reader reassembles client messages; the writer splits a server response into
 * packets of the negotiated size and, like a server's send buffer, tells the producer when the socket is full.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';

/** Packet types this responder meets (MS-TDS §2.2.3.1.1). */
export const PKT = {
  SQL_BATCH: 0x01,
  RPC: 0x03,
  TABULAR_RESULT: 0x04,
  ATTENTION: 0x06,
  LOGIN7: 0x10,
  PRELOGIN: 0x12,
} as const;

const HEADER = 8;
const STATUS_EOM = 0x01;

/** One complete client message. */
export interface TdsMessage {
  type: number;
  payload: Buffer;
}

/** Reassembles client messages from socket chunks; packets of different messages never interleave. */
export class PacketReader {
  private pending: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];

  /** Feeds a chunk; returns the messages it completed. */
  push(chunk: Buffer): TdsMessage[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: TdsMessage[] = [];
    while (this.pending.length >= HEADER) {
      const len = this.pending.readUInt16BE(2);
      if (len < HEADER) throw new Error(`bad TDS packet length ${len}`);
      if (this.pending.length < len) break;
      const type = this.pending[0]!;
      const status = this.pending[1]!;
      this.parts.push(this.pending.subarray(HEADER, len));
      this.pending = this.pending.subarray(len);
      if (status & STATUS_EOM) {
        out.push({ type, payload: Buffer.concat(this.parts) });
        this.parts = [];
      }
    }
    return out;
  }
}

/**
 * Writes one server message as packets. Tokens are appended whole; full packets go to the socket at once,
 * the tail goes out with EOM on `end()`. `blocked` mirrors `socket.write() === false` so producers of long
 * results wait for 'drain' instead of buffering rows in memory.
 */
export class MessageWriter {
  private chunks: Buffer[] = [];
  private size = 0;
  private packetId = 1;
  private ended = false;

  constructor(
    private readonly socket: Socket,
    private readonly packetSize: number,
    private readonly type: number = PKT.TABULAR_RESULT,
  ) {}

  /** True while the socket's write buffer is over its high-water mark. */
  get blocked(): boolean {
    return this.socket.writableNeedDrain;
  }

  write(token: Buffer): void {
    if (this.ended) throw new Error('message already ended');
    this.chunks.push(token);
    this.size += token.length;
    const room = this.packetSize - HEADER;
    while (this.size >= room) {
      const all = Buffer.concat(this.chunks);
      this.send(all.subarray(0, room), false);
      const rest = all.subarray(room);
      this.chunks = rest.length ? [rest] : [];
      this.size = rest.length;
    }
  }

  /** Sends the rest with EOM. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.send(Buffer.concat(this.chunks), true);
    this.chunks = [];
    this.size = 0;
  }

  /** Resolves once the socket drained, closed, or `interrupt` fired (an ATTENTION arrived). */
  async drained(interrupt: Promise<void>): Promise<void> {
    if (!this.blocked || this.socket.destroyed) return;
    const ac = new AbortController();
    try {
      await Promise.race([once(this.socket, 'drain', { signal: ac.signal }), once(this.socket, 'close', { signal: ac.signal }), interrupt]);
    } finally {
      ac.abort();
    }
  }

  private send(body: Buffer, last: boolean): void {
    if (this.socket.destroyed) return;
    const head = Buffer.alloc(HEADER);
    head[0] = this.type;
    head[1] = last ? STATUS_EOM : 0;
    head.writeUInt16BE(HEADER + body.length, 2);
    head.writeUInt16BE(0, 4); // SPID
    head[6] = this.packetId;
    this.packetId = (this.packetId + 1) % 256;
    this.socket.write(Buffer.concat([head, body]));
  }
}
