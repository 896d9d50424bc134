/**
 * The baseline for bench/rest-publish.ts: a bare node:http server that does one JetStream publish per
 * request the fastest correct way we know with nats.js 3.3 — one wildcard reply subscription, a plain
 * `nc.publish(subject, data, {reply})`, PubAcks matched by the last reply token, `noAsyncTraces` — and
 * answers 201 only after the PubAck (503 on a JetStream error or after 5 s). Run as a child process:
 *   BENCH_NATS_URL=… BENCH_SUBJECT=… BENCH_PORT=… tsx bench/raw-server.ts   → prints "listening PORT".
 */
import { createServer, type ServerResponse } from 'node:http';
import { connect, createInbox, type Msg } from '@nats-io/transport-node';

const natsUrl = process.env['BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const subject = process.env['BENCH_SUBJECT'] ?? 'sb.topic.bench';
const port = Number(process.env['BENCH_PORT'] ?? '0');
const TIMEOUT_MS = 5000;

const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
const inbox = createInbox();
const pending = new Map<string, { res: ServerResponse; timer: NodeJS.Timeout }>();
let next = 0;

function answer(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// One subscription for every PubAck: the reply subject's last token names the waiting request.
nc.subscribe(`${inbox}.*`, {
  callback: (_err, msg: Msg) => {
    const token = msg.subject.slice(inbox.length + 1);
    const p = pending.get(token);
    if (!p) return; // already timed out
    pending.delete(token);
    clearTimeout(p.timer);
    // A no-responders status has no body; a JetStream error has {error}; a PubAck has {stream, seq}.
    const ack = msg.data.length > 0 ? (JSON.parse(Buffer.from(msg.data).toString('utf8')) as { seq?: number; error?: unknown }) : {};
    if (typeof ack.seq === 'number') answer(p.res, 201, `{"seq":${ack.seq}}`);
    else answer(p.res, 503, '{"error":{"code":"SB_ERR_BACKBONE_UNAVAILABLE","message":"no PubAck"}}');
  },
});

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const token = (next++).toString(36);
    const timer = setTimeout(() => {
      pending.delete(token);
      answer(res, 503, '{"error":{"code":"SB_ERR_PUBLISH_TIMEOUT","message":"no PubAck in time"}}');
    }, TIMEOUT_MS);
    pending.set(token, { res, timer });
    nc.publish(subject, Buffer.concat(chunks), { reply: `${inbox}.${token}` });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : port}\n`);
});

const shutdown = (): void => {
  server.close();
  server.closeAllConnections();
  void nc.drain().then(() => process.exit(0));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
