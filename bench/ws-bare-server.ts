/**
 * The fan-out baseline of bench/ws-fanout.ts: a bare `ws` WebSocketServer — no auth, no frames of
 * ours, no NATS — that answers `POST /broadcast` with 202 and then sends the request body, as one
 * text frame built once, to every connected client in a loop (`for (const c of wss.clients) c.send(…)`),
 * which is what the gateway's receiver does with a broadcast. perMessageDeflate off, as in the gateway.
 * Run as a child process: BENCH_PORT=0 tsx bench/ws-bare-server.ts → prints "listening PORT".
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.env['BENCH_PORT'] ?? '0');
const TEXT = { binary: false } as const;

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/broadcast') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const frame = Buffer.concat(chunks);
    res.writeHead(202, { 'content-length': 0 }).end();
    // After the answer, as the gateway answers 202 before its fan-out.
    setImmediate(() => {
      for (const c of wss.clients) c.send(frame, TEXT);
    });
  });
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('error', () => ws.terminate()));
server.listen({ host: '127.0.0.1', port, backlog: 2048 }, () => {
  const a = server.address();
  process.stdout.write(`listening ${typeof a === 'object' && a ? a.port : port}\n`);
});

const shutdown = (): void => {
  for (const c of wss.clients) c.terminate();
  wss.close();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
