/**
 * The scripted command table (../../../../shared/ref/winrm.md §3.5): how a command line becomes output. A line is
 * resolved to a `ScriptEntry` — the test's own entries first (first match wins), then the built-ins and the three
 * original Zato examples — with cmd.exe and powershell.exe fidelity rules applied around it.
 */

/** One step of a scripted command. */
export type Step =
  | { stdout: string | Buffer }
  | { stderr: string | Buffer }
  /** Delay before the next step (drives the long-poll TimedOut fault). */
  | { sleepMs: number }
  /** Wait for Send End=true; the bytes are recorded as the command's stdin. */
  | { readStdin: true }
  /** Never ends until Signal or Delete. */
  | { hang: true };

/** A scripted command. */
export interface ScriptEntry {
  /** Matched against the effective line `Command + ' ' + Arguments` (string: exact, after trimming). */
  cmd?: string | RegExp;
  /** Matched against the decoded `-EncodedCommand` script, trimmed, without a leading `$ProgressPreference=…;`. */
  ps?: string | RegExp;
  steps: Step[];
  /** Default 0. */
  exitCode?: number;
  /** Emitted on stderr as real-looking CLIXML error records after the steps. */
  psErrors?: string[];
  /** Emit the "Preparing modules for first use." progress record first (default: true when psErrors is set). */
  psProgress?: boolean;
  /** Exit code after Signal ctrl_c; default 3221225786 (0xC000013A, assumed). */
  onCtrlC?: number;
  /** Cut output chunks inside multi-byte UTF-8 characters. */
  splitUtf8?: boolean;
}

/** What the command table decided for one Command request. */
export interface Resolved {
  entry: ScriptEntry;
  /** Decoded PowerShell script, when the line is `powershell -EncodedCommand …`. */
  psScript?: string;
  /** True when no entry matched (cmd.exe's 9009 answer). */
  unknown: boolean;
  /** The script is read from stdin (`-Command -` or a `[Console]::In.ReadToEnd()` bootstrap): match it after Send End. */
  psFromStdin?: boolean;
}

/** Context the built-ins need. */
export interface ScriptContext {
  hostname: string;
  user: string;
  skipCmdShell: boolean;
}

const PS_PRELUDE = /^\s*\$ProgressPreference\s*=\s*['"]SilentlyContinue['"]\s*;?\s*/i;

/** Strips the progress-silencing prelude of §2.9 so entries match the script proper. */
export function psBody(script: string): string {
  return script.replace(PS_PRELUDE, '').trim();
}

const PROGRESS =
  '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN>' +
  '<MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI>' +
  '<PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>';

/** CLIXML `_xHHHH_` + XML escaping of one string, as PowerShell serializes it. */
export function clixmlEscape(s: string): string {
  return s
    .replace(/_x([0-9A-Fa-f]{4})_/g, '_x005F_x$1_')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .split('')
    .map((c) => (c.charCodeAt(0) < 0x20 ? `_x${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}_` : c))
    .join('');
}

/** The stderr text powershell.exe writes for error records (and a progress record) under -EncodedCommand. */
export function clixml(errors: string[], progress: boolean): string {
  let objs = progress ? PROGRESS : '';
  for (const e of errors) {
    objs += `<S S="Error">${clixmlEscape(`${e}\r\n`)}</S>`;
    objs += `<S S="Error">${clixmlEscape('    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\r\n')}</S>`;
    objs += `<S S="Error">${clixmlEscape('    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException\r\n')}</S>`;
    objs += `<S S="Error">${clixmlEscape(' \r\n')}</S>`;
  }
  return `#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">${objs}</Objs>`;
}

const DIR_C =
  ' Volume in drive C has no label.\r\n' +
  ' Volume Serial Number is 9A3C-51E2\r\n\r\n' +
  ' Directory of C:\\Users\\deploy\r\n\r\n' +
  '11/27/2026  08:12 AM    <DIR>          .\r\n' +
  '11/27/2026  08:12 AM    <DIR>          ..\r\n' +
  '11/27/2026  08:12 AM    <DIR>          3D Objects\r\n' +
  '11/27/2026  08:12 AM    <DIR>          Contacts\r\n' +
  '11/27/2026  08:14 AM    <DIR>          Desktop\r\n' +
  '11/28/2026  04:51 PM    <DIR>          Documents\r\n' +
  '11/27/2026  08:12 AM    <DIR>          Downloads\r\n' +
  '11/28/2026  04:52 PM             1,482 deploy.ps1\r\n' +
  '11/27/2026  08:12 AM    <DIR>          Favorites\r\n' +
  '11/27/2026  08:12 AM    <DIR>          Links\r\n' +
  '11/27/2026  08:12 AM    <DIR>          Music\r\n' +
  '11/28/2026  09:03 AM               214 notes.txt\r\n' +
  '11/27/2026  08:12 AM    <DIR>          Pictures\r\n' +
  '               2 File(s)          1,696 bytes\r\n' +
  '              11 Dir(s)  41,205,350,400 bytes free\r\n';

const TEST_CONNECTION = (host: string): string => {
  const row = `${host.padEnd(14)}localhost       127.0.0.1                                                 32       0    \r\n`;
  return (
    '\r\nSource        Destination     IPV4Address      IPV6Address                              Bytes    Time(ms) \r\n' +
    '------        -----------     -----------      -----------                              -----    -------- \r\n' +
    row.repeat(4) + '\r\n\r\n'
  );
};

/** The three original Zato examples as ready-made entries (`dir c:`, `dir z:`, PowerShell `Test-Connection`). */
export function zatoExamples(hostname: string): ScriptEntry[] {
  return [
    { cmd: /^dir c:$/i, steps: [{ stdout: DIR_C }], exitCode: 0 },
    { cmd: /^dir z:$/i, steps: [{ stderr: 'The system cannot find the path specified.\r\n' }], exitCode: 1 },
    { ps: /^Test-Connection\b/i, steps: [{ stdout: TEST_CONNECTION(hostname) }], exitCode: 0, psProgress: true },
  ];
}

function builtIn(line: string, ctx: ScriptContext): ScriptEntry | undefined {
  const l = line.trim();
  if (/^hostname$/i.test(l)) return { steps: [{ stdout: `${ctx.hostname}\r\n` }] };
  if (/^whoami$/i.test(l)) return { steps: [{ stdout: `${ctx.hostname.toLowerCase()}\\${ctx.user.toLowerCase()}\r\n` }] };
  const echo = /^echo (.*)$/is.exec(l);
  if (echo) return { steps: [{ stdout: `${echo[1]}\r\n` }] };
  const exit = /^exit \/b (-?\d+)$/i.exec(l);
  if (exit) return { steps: [], exitCode: Number(exit[1]) };
  return undefined;
}

function matches(pattern: string | RegExp, text: string): boolean {
  return typeof pattern === 'string' ? pattern.trim() === text.trim() : pattern.test(text);
}

/** Parses `powershell[.exe] … -EncodedCommand <b64>`; undefined when the line is not such a call. */
export function decodePsLine(line: string): { script?: string; error?: string; fromStdin?: boolean } | undefined {
  const tokens = line.trim().split(/\s+/);
  const exe = (tokens[0] ?? '').replace(/^"|"$/g, '').toLowerCase();
  if (!/(^|\\)powershell(\.exe)?$/.test(exe)) return undefined;
  for (let i = 1; i < tokens.length; i++) {
    const t = (tokens[i] ?? '').toLowerCase();
    if (t === '-command' && tokens[i + 1] === '-') return { fromStdin: true };
    if (t === '-' ) return { fromStdin: true };
    if (t.length >= 2 && (t === '-ec' || '-encodedcommand'.startsWith(t))) {
      const b64 = tokens[i + 1] ?? '';
      const bytes = Buffer.from(b64, 'base64');
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0 || bytes.length % 2 !== 0) {
        return { error: 'Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n' };
      }
      return { script: bytes.toString('utf16le') };
    }
  }
  return undefined;
}

/** Resolves a command line to a script entry (§3.5). */
export function resolveCommand(line: string, entries: ScriptEntry[], ctx: ScriptContext): Resolved {
  if (!ctx.skipCmdShell && line.length > 8191) {
    return { entry: { steps: [{ stderr: 'The command line is too long.\r\n' }], exitCode: 1 }, unknown: false };
  }
  const ps = decodePsLine(line);
  if (ps?.error) return { entry: { steps: [{ stderr: ps.error }], exitCode: 1 }, unknown: false };
  if (ps?.fromStdin) return { entry: { steps: [] }, unknown: false, psFromStdin: true };
  if (ps?.script !== undefined) {
    const found = resolvePs(ps.script, entries, ctx);
    if (found) return { ...found, psScript: ps.script };
    if (/\[Console\]::In\.ReadToEnd\(\)/i.test(ps.script)) return { entry: { steps: [] }, unknown: false, psScript: ps.script, psFromStdin: true };
    return { ...unknownPs(ps.script), psScript: ps.script };
  }
  const entry = entries.find((e) => e.cmd !== undefined && matches(e.cmd, line)) ?? builtIn(line, ctx) ??
    zatoExamples(ctx.hostname).find((e) => e.cmd !== undefined && matches(e.cmd, line));
  if (entry) return { entry, unknown: false };
  const first = line.trim().split(/\s+/)[0] ?? '';
  return {
    entry: { steps: [{ stderr: `'${first}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n` }], exitCode: 9009 },
    unknown: true,
  };
}

/** Resolves a PowerShell script (decoded or read from stdin) to an entry, or undefined. */
export function resolvePs(script: string, entries: ScriptEntry[], ctx: ScriptContext): Resolved | undefined {
  const body = psBody(script);
  const entry = entries.find((e) => e.ps !== undefined && matches(e.ps, body)) ??
    zatoExamples(ctx.hostname).find((e) => e.ps !== undefined && matches(e.ps, body));
  return entry ? { entry, unknown: false } : undefined;
}

/**
 * The script a stdin bootstrap ends up running. Two bootstrap shapes are understood: one that base64-decodes
 * stdin (`[Convert]::FromBase64String`, then UTF-8 or `Unicode` = UTF-16LE), and plain text (`-Command -`).
 */
export function stdinScript(bootstrap: string | undefined, stdin: string): string {
  if (bootstrap && /FromBase64String/i.test(bootstrap)) {
    const bytes = Buffer.from(stdin.trim(), 'base64');
    return /\[Text\.Encoding\]::Unicode/i.test(bootstrap) ? bytes.toString('utf16le') : bytes.toString('utf8');
  }
  return stdin;
}

/** What powershell.exe prints for a script no entry knows (treated like cmd's unknown command). */
export function unknownPs(script: string): Resolved {
  const first = psBody(script).split(/\s+/)[0] ?? '';
  const msg = `${first} : The term '${first}' is not recognized as the name of a cmdlet, function, script file, or operable program.`;
  return { entry: { steps: [], psErrors: [msg], psProgress: false, exitCode: 1 }, unknown: true };
}

// CP437 bytes 0x80–0xFF.
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';
const CP437_INDEX = new Map([...CP437_HIGH].map((c, i) => [c, 0x80 + i]));

/** Encodes program text in the shell's codepage (65001 → UTF-8; 437 → CP437, unknown characters → '?'). */
export function encodeText(text: string, codepage: number): Buffer {
  if (codepage === 65001) return Buffer.from(text, 'utf8');
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0x3f;
    out.push(c < 0x80 ? c : (CP437_INDEX.get(ch) ?? 0x3f));
  }
  return Buffer.from(out);
}

/** Decodes bytes from the shell's codepage (stdin of a codepage 437 shell). */
export function decodeText(bytes: Buffer, codepage: number): string {
  if (codepage === 65001) return bytes.toString('utf8');
  let s = '';
  for (const b of bytes) s += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH[b - 0x80];
  return s;
}
