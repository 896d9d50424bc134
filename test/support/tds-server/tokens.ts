/**
 * TDS 7.4 token writer and RPC parameter reader for the test responder (MS-TDS §2.2.7 tokens, §2.2.5 data
 * types). Only the types the scripted procedures use: int/bigint (INTN), bit (BITN), float (FLTN) and
 * nvarchar (NVARCHAR, including the PLP form of nvarchar(max) that tedious sends for long strings).
 */

/** A column or parameter type. */
export type SqlType = 'int' | 'bigint' | 'bit' | 'float' | 'nvarchar';
export type SqlValue = number | bigint | boolean | string | null;

export interface Column {
  name: string;
  type: SqlType;
}

const TOKEN = {
  COLMETADATA: 0x81,
  ERROR: 0xaa,
  INFO: 0xab,
  LOGINACK: 0xad,
  RETURNVALUE: 0xac,
  RETURNSTATUS: 0x79,
  ROW: 0xd1,
  ENVCHANGE: 0xe3,
  DONE: 0xfd,
  DONEPROC: 0xfe,
  DONEINPROC: 0xff,
} as const;

/** DONE status bits (MS-TDS §2.2.7.6). */
export const DONE = { FINAL: 0x00, MORE: 0x01, ERROR: 0x02, COUNT: 0x10, ATTN: 0x20 } as const;

const TYPE_ID = { INTN: 0x26, BITN: 0x68, FLTN: 0x6d, NVARCHAR: 0xe7 } as const;
/** Latin1_General_CI_AS: LCID 0x0409, flags, sort id 52. */
export const COLLATION = Buffer.from([0x09, 0x04, 0xd0, 0x00, 0x34]);

const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}
/** B_VARCHAR: char count in one byte, UCS-2. */
function bVarchar(s: string): Buffer {
  return Buffer.concat([u8(s.length), Buffer.from(s, 'ucs2')]);
}
/** US_VARCHAR: char count in two bytes, UCS-2. */
function usVarchar(s: string): Buffer {
  return Buffer.concat([u16(s.length), Buffer.from(s, 'ucs2')]);
}
/** A token with a USHORT length prefix. */
function withLength(id: number, body: Buffer): Buffer {
  return Buffer.concat([u8(id), u16(body.length), body]);
}

function typeInfo(t: SqlType): Buffer {
  switch (t) {
    case 'int':
      return Buffer.from([TYPE_ID.INTN, 4]);
    case 'bigint':
      return Buffer.from([TYPE_ID.INTN, 8]);
    case 'bit':
      return Buffer.from([TYPE_ID.BITN, 1]);
    case 'float':
      return Buffer.from([TYPE_ID.FLTN, 8]);
    case 'nvarchar':
      return Buffer.concat([u8(TYPE_ID.NVARCHAR), u16(8000), COLLATION]); // nvarchar(4000)
  }
}

/** A value in the TYPE_VARLEN form of its type (1-byte length for fixed-size N types, 2 for nvarchar). */
function value(t: SqlType, v: SqlValue): Buffer {
  if (t === 'nvarchar') {
    if (v === null) return u16(0xffff);
    const s = Buffer.from(String(v), 'ucs2');
    return Buffer.concat([u16(s.length), s]);
  }
  if (v === null) return u8(0);
  const b = Buffer.alloc(t === 'int' ? 4 : t === 'bit' ? 1 : 8);
  if (t === 'int') b.writeInt32LE(Number(v));
  else if (t === 'bigint') b.writeBigInt64LE(BigInt(v));
  else if (t === 'bit') b[0] = v ? 1 : 0;
  else b.writeDoubleLE(Number(v));
  return Buffer.concat([u8(b.length), b]);
}

/** Column metadata: UserType (ULONG in 7.2+), Flags (nullable), TYPE_INFO, column name. */
export function colMetadata(cols: Column[]): Buffer {
  const parts = [u8(TOKEN.COLMETADATA), u16(cols.length)];
  for (const c of cols) parts.push(Buffer.alloc(4), u16(0x0001), typeInfo(c.type), bVarchar(c.name));
  return Buffer.concat(parts);
}

export function row(cols: Column[], values: SqlValue[]): Buffer {
  return Buffer.concat([u8(TOKEN.ROW), ...cols.map((c, i) => value(c.type, values[i] ?? null))]);
}

/** DONE, DONEPROC or DONEINPROC: status, current command, 64-bit row count. */
export function done(kind: 'done' | 'proc' | 'inproc', status: number, rowCount = 0): Buffer {
  const id = kind === 'done' ? TOKEN.DONE : kind === 'proc' ? TOKEN.DONEPROC : TOKEN.DONEINPROC;
  const b = Buffer.alloc(13);
  b[0] = id;
  b.writeUInt16LE(status, 1);
  b.writeUInt16LE(0xc1, 3); // CurCmd: SELECT
  b.writeBigUInt64LE(BigInt(rowCount), 5);
  return b;
}

export function returnStatus(n: number): Buffer {
  return Buffer.concat([u8(TOKEN.RETURNSTATUS), i32(n)]);
}

/** RETURNVALUE of an OUTPUT parameter (status 0x01), typed as the client declared it. */
export function returnValue(ordinal: number, name: string, t: SqlType, v: SqlValue): Buffer {
  return Buffer.concat([u8(TOKEN.RETURNVALUE), u16(ordinal), bVarchar(`@${name}`), u8(0x01), Buffer.alloc(4), u16(0x0001), typeInfo(t), value(t, v)]);
}

/** ERROR (or INFO) token: number, state, class, message, server, procedure, line. */
export function errorToken(e: { number: number; message: string; state?: number; severity?: number; procName?: string; line?: number }, info = false): Buffer {
  const body = Buffer.concat([i32(e.number), u8(e.state ?? 1), u8(e.severity ?? 16), usVarchar(e.message), bVarchar('tds-test-responder'), bVarchar(e.procName ?? ''), i32(e.line ?? 1)]);
  return withLength(info ? TOKEN.INFO : TOKEN.ERROR, body);
}

/** LOGINACK: interface T-SQL, TDS 7.4, program name and version. */
export function loginAck(): Buffer {
  const ver = Buffer.alloc(4);
  ver.writeUInt32BE(0x74000004);
  return withLength(TOKEN.LOGINACK, Buffer.concat([u8(1), ver, bVarchar('Microsoft SQL Server'), Buffer.from([16, 0, 0x10, 0x00])]));
}

/** ENVCHANGE with B_VARCHAR values (database 1, language 2, packet size 4). */
export function envChangeText(type: 1 | 2 | 4, next: string, prev: string): Buffer {
  return withLength(TOKEN.ENVCHANGE, Buffer.concat([u8(type), bVarchar(next), bVarchar(prev)]));
}

/** ENVCHANGE 7: the database collation, a B_VARBYTE. */
export function envChangeCollation(): Buffer {
  return withLength(TOKEN.ENVCHANGE, Buffer.concat([u8(7), u8(COLLATION.length), COLLATION, u8(0)]));
}

/** One decoded RPC parameter. */
export interface RpcParam {
  /** Without the leading '@'; '' for a positional parameter. */
  name: string;
  ordinal: number;
  output: boolean;
  type: SqlType;
  value: SqlValue;
}

/** Reads the parameters of an RPC request from `off` to the end (MS-TDS §2.2.6.6 ParameterData). */
export function readRpcParams(buf: Buffer, off: number): RpcParam[] {
  const out: RpcParam[] = [];
  let p = off;
  while (p < buf.length) {
    const nameLen = buf[p]!;
    const rawName = buf.toString('ucs2', p + 1, p + 1 + nameLen * 2);
    p += 1 + nameLen * 2;
    const status = buf[p++]!;
    const typeId = buf[p++]!;
    let type: SqlType;
    let v: SqlValue;
    if (typeId === TYPE_ID.INTN || typeId === TYPE_ID.BITN || typeId === TYPE_ID.FLTN) {
      const max = buf[p++]!;
      const len = buf[p++]!;
      if (typeId === TYPE_ID.INTN) type = max === 8 ? 'bigint' : 'int';
      else type = typeId === TYPE_ID.BITN ? 'bit' : 'float';
      if (len === 0) v = null;
      else if (typeId === TYPE_ID.BITN) v = buf[p] !== 0;
      else if (typeId === TYPE_ID.FLTN) v = len === 8 ? buf.readDoubleLE(p) : buf.readFloatLE(p);
      else v = len === 8 ? buf.readBigInt64LE(p) : len === 4 ? buf.readInt32LE(p) : len === 2 ? buf.readInt16LE(p) : buf[p]!;
      p += len;
    } else if (typeId === TYPE_ID.NVARCHAR) {
      type = 'nvarchar';
      const max = buf.readUInt16LE(p);
      p += 2 + 5; // max length, collation
      if (max !== 0xffff) {
        const len = buf.readUInt16LE(p);
        p += 2;
        v = len === 0xffff ? null : buf.toString('ucs2', p, p + len);
        if (len !== 0xffff) p += len;
      } else {
        // PLP: total length (or "unknown" / NULL marker), then ULONG-prefixed chunks up to a zero chunk.
        const total = buf.readBigUInt64LE(p);
        p += 8;
        if (total === 0xffffffffffffffffn) v = null;
        else {
          const parts: Buffer[] = [];
          for (;;) {
            const n = buf.readUInt32LE(p);
            p += 4;
            if (n === 0) break;
            parts.push(buf.subarray(p, p + n));
            p += n;
          }
          v = Buffer.concat(parts).toString('ucs2');
        }
      }
    } else {
      throw new Error(`test responder: unsupported parameter type 0x${typeId.toString(16)} for ${rawName}`);
    }
    out.push({ name: rawName.replace(/^@/, ''), ordinal: out.length, output: (status & 0x01) !== 0, type, value: v });
  }
  return out;
}
