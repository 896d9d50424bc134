/**
 * The login half of the test responder: the PRELOGIN answer (MS-TDS §2.2.6.5; encryption NOT_SUP, so the
 * client must run with encrypt:false and LOGIN7 travels in clear) and the LOGIN7 reader (§2.2.6.4) with
 * the password de-obfuscation (XOR 0xA5, then swap the nibbles of each byte).
 */

/** PRELOGIN answer: VERSION, ENCRYPTION=NOT_SUP, INSTOPT, THREADID, MARS=off, terminator. */
export function preloginResponse(): Buffer {
  const options: Array<[number, Buffer]> = [
    [0x00, Buffer.from([16, 0, 0x10, 0x00, 0, 0])], // 16.0.4096.0
    [0x01, Buffer.from([0x02])], // ENCRYPT_NOT_SUP
    [0x02, Buffer.from([0x00])],
    [0x03, Buffer.alloc(0)],
    [0x04, Buffer.from([0x00])],
  ];
  const head = Buffer.alloc(options.length * 5 + 1);
  let dataOff = head.length;
  options.forEach(([token, data], i) => {
    head[i * 5] = token;
    head.writeUInt16BE(dataOff, i * 5 + 1);
    head.writeUInt16BE(data.length, i * 5 + 3);
    dataOff += data.length;
  });
  head[head.length - 1] = 0xff;
  return Buffer.concat([head, ...options.map(([, d]) => d)]);
}

/** What the responder needs from LOGIN7. */
export interface Login7 {
  tdsVersion: number;
  packetSize: number;
  user: string;
  password: string;
  database: string;
  appName: string;
}

/** Undoes the LOGIN7 password obfuscation: each byte XOR 0xA5, then nibbles swapped. */
export function decodePassword(raw: Buffer): string {
  const out = Buffer.alloc(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]! ^ 0xa5;
    out[i] = ((b & 0x0f) << 4) | (b >> 4);
  }
  return out.toString('ucs2');
}

/** Reads the fixed part and the offset/length table (offsets from the start of the payload, lengths in chars). */
export function parseLogin7(p: Buffer): Login7 {
  const str = (at: number): Buffer => {
    const off = p.readUInt16LE(at);
    const chars = p.readUInt16LE(at + 2);
    return p.subarray(off, off + chars * 2);
  };
  return {
    tdsVersion: p.readUInt32LE(4),
    packetSize: p.readUInt32LE(8),
    user: str(40).toString('ucs2'),
    password: decodePassword(str(44)),
    appName: str(48).toString('ucs2'),
    database: str(68).toString('ucs2'),
  };
}
