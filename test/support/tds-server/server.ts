/**
 * TDS TEST RESPONDER: a mock of the SQL Server wire protocol (TDS 7.4), not a database engine. It lets the
 * real `mssql` + tedious stack run end to end on 127.0.0.1 without SQL Server (../../../../shared/ref/
 * sql-streaming.md §4). Per connection: PRELOGIN → LOGIN7 (user and password checked) → requests. SQL
 * batches (tedious's session SET options) are acknowledged with DONE; RPC requests run the scripted
 * procedures of ./procedures.ts, or answer the two sp_executesql statements clients send (`SELECT 1`
 * validation and the sys.parameters catalog look-up); ATTENTION stops the response and is acknowledged
 * with DONE_ATTN in a message of its own. Rows are produced lazily under TCP backpressure and counted in
 * `stats` so tests can see how far the server ran ahead of the client.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep, setImmediate as yieldToIo } from 'node:timers/promises';
import { parseLogin7, preloginResponse } from './login.js';
import { MessageWriter, PacketReader, PKT, type TdsMessage } from './packets.js';
import { defaultProcedures, type ProcDef, type ProcSink } from './procedures.js';
import * as tok from './tokens.js';

export interface TdsServerOptions {
  /** Accepted logins: user → password (default sa / Secret-123). */
  users?: Record<string, string>;
  /** The only database a login may ask for (default 'test'; an empty LOGIN7 database means this one). */
  database?: string;
  procedures?: Record<string, ProcDef>;
}

/** Live counters (read them from tests). */
export interface TdsServerStats {
  connections: number;
  logins: number;
  failedLogins: number;
  attentions: number;
  /** Rows handed to sockets, over all calls. */
  rowsWritten: number;
  /** True while a producer waits for the socket to drain. */
  blocked: boolean;
  /** How many times a producer had to wait for 'drain'. */
  drainWaits: number;
  /** Procedure names called by RPC, as sent. */
  rpcs: string[];
}

export interface TdsServer {
  readonly port: number;
  readonly stats: TdsServerStats;
  close(): Promise<void>;
}

const SP_EXECUTESQL = 10;
const DEFAULT_PACKET = 4096;

/** Starts the responder on 127.0.0.1 with an ephemeral port. */
export async function startTdsServer(opts: TdsServerOptions = {}): Promise<TdsServer> {
  const users = opts.users ?? { sa: 'Secret-123' };
  const database = opts.database ?? 'test';
  const procedures = opts.procedures ?? defaultProcedures();
  const stats: TdsServerStats = { connections: 0, logins: 0, failedLogins: 0, attentions: 0, rowsWritten: 0, blocked: false, drainWaits: 0, rpcs: [] };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    stats.connections++;
    new Connection(socket, { users, database, procedures, stats });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return {
    port: addr.port,
    stats,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Ctx {
  users: Record<string, string>;
  database: string;
  procedures: Record<string, ProcDef>;
  stats: TdsServerStats;
}

/** One client connection: the login state machine, then requests one at a time. */
class Connection {
  private state: 'prelogin' | 'login' | 'ready' = 'prelogin';
  private readonly reader = new PacketReader();
  private packetSize = DEFAULT_PACKET;
  private queue: Promise<void> = Promise.resolve();
  /** A request is being answered (from its arrival to the end of its response). */
  private busy = false;
  private attention = false;
  private interrupt: () => void = () => undefined;
  private interrupted: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: Socket,
    private readonly ctx: Ctx,
  ) {
    socket.on('error', () => undefined); // the client may reset at any time
    socket.on('data', (chunk: Buffer) => {
      let messages: TdsMessage[];
      try {
        messages = this.reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const m of messages) this.dispatch(m);
    });
  }

  private dispatch(m: TdsMessage): void {
    if (m.type === PKT.ATTENTION) {
      this.ctx.stats.attentions++;
      if (this.busy) {
        this.attention = true;
        this.interrupt();
      } else {
        // The response already went out in full: acknowledge alone.
        this.queue = this.queue.then(() => this.ackAttention());
      }
      return;
    }
    if (m.type === PKT.SQL_BATCH || m.type === PKT.RPC) {
      this.busy = true;
      this.attention = false;
      this.interrupted = new Promise((resolve) => (this.interrupt = resolve));
    }
    this.queue = this.queue.then(() => this.handle(m)).catch(() => {
      this.socket.destroy();
    });
  }

  private async handle(m: TdsMessage): Promise<void> {
    if (this.state === 'prelogin' && m.type === PKT.PRELOGIN) {
      const w = new MessageWriter(this.socket, this.packetSize);
      w.write(preloginResponse());
      w.end();
      this.state = 'login';
      return;
    }
    if (this.state === 'login' && m.type === PKT.LOGIN7) return this.login(m.payload);
    if (this.state !== 'ready') {
      this.socket.destroy();
      return;
    }
    try {
      if (m.type === PKT.SQL_BATCH) await this.batch();
      else if (m.type === PKT.RPC) await this.rpc(m.payload);
      else this.socket.destroy();
    } finally {
      this.busy = false;
      if (this.attention) {
        this.attention = false;
        this.ackAttention();
      }
    }
  }

  private login(payload: Buffer): void {
    const login = parseLogin7(payload);
    const w = new MessageWriter(this.socket, this.packetSize);
    const expected = this.ctx.users[login.user];
    if (expected === undefined || expected !== login.password) {
      this.ctx.stats.failedLogins++;
      w.write(tok.errorToken({ number: 18456, state: 1, severity: 14, message: `Login failed for user '${login.user}'.` }));
      w.write(tok.done('done', tok.DONE.ERROR));
      w.end();
      this.socket.end();
      return;
    }
    if (login.database !== '' && login.database !== this.ctx.database) {
      this.ctx.stats.failedLogins++;
      w.write(tok.errorToken({ number: 4060, severity: 11, message: `Cannot open database "${login.database}" requested by the login. The login failed.` }));
      w.write(tok.done('done', tok.DONE.ERROR));
      w.end();
      this.socket.end();
      return;
    }
    this.ctx.stats.logins++;
    this.packetSize = login.packetSize || DEFAULT_PACKET;
    w.write(tok.envChangeText(1, this.ctx.database, 'master'));
    w.write(tok.envChangeCollation());
    w.write(tok.envChangeText(2, 'us_english', ''));
    w.write(tok.loginAck());
    w.write(tok.envChangeText(4, String(this.packetSize), String(DEFAULT_PACKET)));
    w.write(tok.done('done', tok.DONE.FINAL));
    w.end();
    this.state = 'ready';
  }

  /** tedious's session options (`SET textsize …`) and the like: acknowledged, nothing runs. */
  private async batch(): Promise<void> {
    const w = new MessageWriter(this.socket, this.packetSize);
    w.write(tok.done('done', tok.DONE.FINAL));
    w.end();
  }

  private ackAttention(): void {
    const w = new MessageWriter(this.socket, this.packetSize);
    w.write(tok.done('done', tok.DONE.ATTN));
    w.end();
  }

  private async rpc(payload: Buffer): Promise<void> {
    let off = payload.readUInt32LE(0); // skip ALL_HEADERS (its total length includes itself)
    const nameLen = payload.readUInt16LE(off);
    off += 2;
    let procName: string | number;
    if (nameLen === 0xffff) {
      procName = payload.readUInt16LE(off);
      off += 2;
    } else {
      procName = payload.toString('ucs2', off, off + nameLen * 2);
      off += nameLen * 2;
    }
    off += 2; // option flags
    const params = tok.readRpcParams(payload, off);
    const w = new MessageWriter(this.socket, this.packetSize);
    const sink = new Sink(w, this.ctx.stats, () => this.attention, () => this.interrupted);
    if (procName === SP_EXECUTESQL) {
      await this.executeSql(params, sink);
    } else if (typeof procName === 'string') {
      this.ctx.stats.rpcs.push(procName);
      await this.runProcedure(procName, params, sink);
    } else {
      sink.error({ number: 2812, message: `Could not find stored procedure with id ${procName}.` });
    }
    if (!this.attention) w.write(tok.done('proc', sink.failed ? tok.DONE.ERROR : tok.DONE.FINAL));
    w.end();
  }

  private async runProcedure(raw: string, params: tok.RpcParam[], sink: Sink): Promise<void> {
    const key = normalizeName(raw);
    const def = key === undefined ? undefined : this.ctx.procedures[key];
    if (def === undefined) {
      sink.error({ number: 2812, message: `Could not find stored procedure '${raw}'.` });
      return;
    }
    const args: Record<string, tok.SqlValue> = {};
    for (const [i, p] of def.params.entries()) {
      const sent = params.find((x) => x.name.toLowerCase() === p.name.toLowerCase()) ?? params.find((x) => x.name === '' && x.ordinal === i);
      if (sent !== undefined) args[p.name] = sent.value;
      else if ('default' in p) args[p.name] = p.default ?? null;
      else if (!p.output) {
        sink.error({ number: 201, message: `Procedure or function '${raw}' expects parameter '@${p.name}', which was not supplied.` });
        return;
      }
    }
    for (const p of params) {
      if (p.name !== '' && !def.params.some((d) => d.name.toLowerCase() === p.name.toLowerCase())) {
        sink.error({ number: 8145, message: `@${p.name} is not a parameter for procedure ${raw}.` });
        return;
      }
    }
    const status = (await def.run(args, sink)) ?? 0;
    if (this.attention) return;
    sink.finish(status, params);
  }

  /** sp_executesql: only the statements drivers send on their own (pool validation, catalog look-up). */
  private async executeSql(params: tok.RpcParam[], sink: Sink): Promise<void> {
    const statement = String(params[0]?.value ?? '');
    if (/^\s*select\s+1\s*;?\s*$/i.test(statement)) {
      sink.resultSet([{ name: '', type: 'int' }]);
      await sink.row([1]);
      sink.endResultSet();
      return;
    }
    if (/sys\.parameters/i.test(statement)) {
      const proc = params.find((p) => p.name === 'proc');
      const key = normalizeName(String(proc?.value ?? ''));
      const def = key === undefined ? undefined : this.ctx.procedures[key];
      sink.resultSet([
        { name: 'name', type: 'nvarchar' },
        { name: 'type', type: 'nvarchar' },
        { name: 'maxLength', type: 'int' },
        { name: 'precision', type: 'int' },
        { name: 'scale', type: 'int' },
        { name: 'isOutput', type: 'bit' },
      ]);
      for (const p of def?.params ?? []) {
        const bytes = p.type === 'nvarchar' ? 8000 : p.type === 'int' ? 4 : p.type === 'bit' ? 1 : 8;
        await sink.row([`@${p.name}`, p.type, bytes, 0, 0, p.output === true]);
      }
      sink.endResultSet();
      return;
    }
    sink.error({ number: 50001, message: 'the TDS test responder runs no SQL text' });
  }
}

/** Writes a procedure's tokens to one response message. */
class Sink implements ProcSink {
  failed = false;
  private rows = 0;
  private readonly outputs = new Map<string, tok.SqlValue>();
  private cols: tok.Column[] = [];

  constructor(
    private readonly w: MessageWriter,
    private readonly stats: TdsServerStats,
    private readonly cancelled: () => boolean,
    private readonly interrupted: () => Promise<void>,
  ) {}

  resultSet(cols: tok.Column[]): void {
    this.cols = cols;
    this.rows = 0;
    this.w.write(tok.colMetadata(cols));
  }

  async row(values: tok.SqlValue[]): Promise<boolean> {
    if (this.cancelled()) return false;
    this.w.write(tok.row(this.cols, values));
    this.rows++;
    this.stats.rowsWritten++;
    if (this.w.blocked) {
      this.stats.blocked = true;
      this.stats.drainWaits++;
      await this.w.drained(this.interrupted());
      this.stats.blocked = false;
    } else if (this.rows % 1000 === 0) {
      await yieldToIo(); // let an ATTENTION in even when the socket never fills
    }
    return !this.cancelled();
  }

  async idle(ms: number): Promise<boolean> {
    const ac = new AbortController();
    await Promise.race([sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined), this.interrupted()]);
    ac.abort();
    return !this.cancelled();
  }

  endResultSet(): void {
    this.w.write(tok.done('inproc', tok.DONE.MORE | tok.DONE.COUNT, this.rows));
  }

  error(e: { number: number; message: string; severity?: number; state?: number }): void {
    this.failed = true;
    this.w.write(tok.errorToken(e));
  }

  output(name: string, value: tok.SqlValue): void {
    this.outputs.set(name.toLowerCase(), value);
  }

  /** RETURNSTATUS, then one RETURNVALUE per OUTPUT parameter the client sent, typed as it declared it. */
  finish(status: number, params: tok.RpcParam[]): void {
    this.w.write(tok.returnStatus(status));
    for (const p of params) {
      if (p.output) this.w.write(tok.returnValue(p.ordinal, p.name, p.type, this.outputs.get(p.name.toLowerCase()) ?? p.value));
    }
  }
}

/** `[dbo].[x]`, `dbo.x`, `x` → `dbo.x` (lower case); undefined when the name does not parse. */
export function normalizeName(raw: string): string | undefined {
  const parts: string[] = [];
  let i = 0;
  while (i < raw.length) {
    let part = '';
    if (raw[i] === '[') {
      i++;
      for (;;) {
        if (i >= raw.length) return undefined;
        if (raw[i] === ']') {
          if (raw[i + 1] === ']') {
            part += ']';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += raw[i++];
      }
    } else {
      while (i < raw.length && raw[i] !== '.') part += raw[i++];
    }
    parts.push(part.toLowerCase());
    if (i < raw.length) {
      if (raw[i] !== '.') return undefined;
      i++;
    }
  }
  if (parts.length === 1) return `dbo.${parts[0]}`;
  if (parts.length === 2) return parts.join('.');
  return undefined;
}
