/**
 * Request validation (§3.3): namespace-aware header checks, then the per-action body. Strict where Windows is
 * strict (Action, ResourceURI, MessageID, OperationTimeout, mustUnderstand, selectors, options, body schema),
 * lenient where it is lenient (a:To is never checked; unknown options are ignored).
 */
import { ACTIONS, ANONYMOUS, NS, SHELL_URI, type ActionName, type FaultName } from './envelope.js';
import { child, childrenOf, parseXml, type XmlElement } from './xml.js';

/** A validated request, before the shell host runs it. */
export interface WsmanRequest {
  action: ActionName;
  messageId: string;
  shellId: string | undefined;
  operationTimeoutMs: number;
  maxEnvelope: number;
  /** OptionSet options by name (upper-cased names). */
  options: Record<string, string>;
  body: XmlElement;
}

/** What validation decided. */
export type Validated =
  | { ok: WsmanRequest }
  | { fault: FaultName; arg?: string; messageId?: string; action?: ActionName }
  | { badRequest: string };

const UUID = /^uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Parses an xs:duration into ms; undefined when negative or unparsable. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m || text.trim() === 'P' || text.trim().endsWith('T')) return undefined;
  const n = (i: number): number => Number(m[i] ?? 0);
  return ((((n(1) * 365 + n(2) * 30 + n(3)) * 24 + n(4)) * 60 + n(5)) * 60 + n(6)) * 1000;
}

// Headers a WS-Man service understands; any other with mustUnderstand=true is refused.
const UNDERSTOOD = new Set([
  `${NS.a}|Action`, `${NS.a}|To`, `${NS.a}|ReplyTo`, `${NS.a}|MessageID`, `${NS.w}|MaxEnvelopeSize`, `${NS.w}|ResourceURI`,
  `${NS.w}|OptionSet`, `${NS.w}|SelectorSet`, `${NS.w}|OperationTimeout`, `${NS.w}|Locale`, `${NS.p}|DataLocale`,
  `${NS.p}|SessionId`, `${NS.p}|OperationID`, `${NS.p}|SequenceId`,
]);

const BOOL_OPTIONS = ['WINRS_NOPROFILE', 'WINRS_CONSOLEMODE_STDIN', 'WINRS_SKIP_CMD_SHELL'];

/** Validates one SOAP request body against §3.3. */
export function validateRequest(xml: string, maxTimeoutMs: number): Validated {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    return { badRequest: (err as Error).message };
  }
  if (root.ns !== NS.s || root.name !== 'Envelope') return { badRequest: 'root is not a SOAP 1.2 Envelope' };
  const header = child(root, NS.s, 'Header');
  const body = child(root, NS.s, 'Body');
  if (!header || !body) return { badRequest: 'SOAP Header or Body missing' };

  const messageId = child(header, NS.a, 'MessageID')?.text.trim();
  const refused = header.children.find((h) => /^(true|1)$/i.test(h.attrs.mustUnderstand ?? '') && !UNDERSTOOD.has(`${h.ns}|${h.name}`));
  if (refused) return { fault: 'MustUnderstand', arg: `{${refused.ns}}${refused.name}`, messageId };

  const actionUri = child(header, NS.a, 'Action')?.text.trim() ?? '';
  const action = (Object.keys(ACTIONS) as ActionName[]).find((k) => ACTIONS[k] === actionUri);
  if (!action) return { fault: 'ActionNotSupported', arg: actionUri, messageId };
  if (!messageId || !UUID.test(messageId)) return { fault: 'InvalidHeader', arg: `MessageID ${messageId ?? ''}`, messageId, action };
  const replyTo = child(child(header, NS.a, 'ReplyTo'), NS.a, 'Address')?.text.trim();
  if (replyTo !== ANONYMOUS) return { fault: 'InvalidHeader', arg: `ReplyTo ${replyTo ?? ''}`, messageId, action };
  const resource = child(header, NS.w, 'ResourceURI')?.text.trim() ?? '';
  if (resource !== SHELL_URI) return { fault: 'DestinationUnreachable', arg: resource, messageId, action };

  const timeoutText = child(header, NS.w, 'OperationTimeout')?.text;
  let operationTimeoutMs = maxTimeoutMs;
  if (timeoutText !== undefined) {
    const ms = parseDuration(timeoutText);
    if (ms === undefined) return { fault: 'InvalidHeader', arg: timeoutText.trim(), messageId, action };
    operationTimeoutMs = Math.min(ms, maxTimeoutMs);
  }
  const envText = child(header, NS.w, 'MaxEnvelopeSize')?.text.trim();
  const maxEnvelope = envText === undefined ? 512000 : Number(envText);
  if (!Number.isInteger(maxEnvelope) || maxEnvelope < 8192) return { fault: 'EncodingLimit', arg: envText ?? '', messageId, action };

  const options: Record<string, string> = {};
  for (const o of childrenOf(child(header, NS.w, 'OptionSet'), NS.w, 'Option')) options[(o.attrs.Name ?? '').toUpperCase()] = o.text.trim();
  const cp = options.WINRS_CODEPAGE;
  if (cp !== undefined && cp !== '65001' && cp !== '437') return { fault: 'InvalidParameter', messageId, action };
  for (const name of BOOL_OPTIONS) {
    const v = options[name];
    if (v !== undefined && !/^(true|false)$/i.test(v)) return { fault: 'InvalidParameter', messageId, action };
  }
  const shellId = childrenOf(child(header, NS.w, 'SelectorSet'), NS.w, 'Selector').find((s) => s.attrs.Name === 'ShellId')?.text.trim();
  return { ok: { action, messageId, shellId, operationTimeoutMs, maxEnvelope, options, body } };
}

/** The effective command line of a Command body, or a fault. */
export function commandLine(body: XmlElement): { line: string } | { fault: FaultName } {
  const cl = child(body, NS.rsp, 'CommandLine');
  if (!cl) return { fault: 'SchemaValidationError' };
  if (cl.children.some((c) => c.ns !== NS.rsp || (c.name !== 'Command' && c.name !== 'Arguments'))) return { fault: 'SchemaValidationError' };
  const command = child(cl, NS.rsp, 'Command');
  if (!command) return { fault: 'SchemaValidationError' };
  const args = childrenOf(cl, NS.rsp, 'Arguments').map((a) => a.text);
  return { line: [command.text, ...args].join(' ') };
}

/** Receive body: the CommandId of DesiredStream. */
export function receiveTarget(body: XmlElement): { commandId: string } | { fault: FaultName } {
  const ds = child(child(body, NS.rsp, 'Receive'), NS.rsp, 'DesiredStream');
  const id = ds?.attrs.CommandId;
  return id ? { commandId: id } : { fault: 'InvalidParameter' };
}

/** Send body: stdin bytes, the CommandId and End. */
export function sendInput(body: XmlElement): { commandId: string; bytes: Buffer; end: boolean } | { fault: FaultName } {
  const stream = child(child(body, NS.rsp, 'Send'), NS.rsp, 'Stream');
  const id = stream?.attrs.CommandId;
  if (!stream || !id || stream.attrs.Name !== 'stdin') return { fault: 'InvalidParameter' };
  const text = stream.text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return { fault: 'InvalidParameter' };
  return { commandId: id, bytes: Buffer.from(text, 'base64'), end: /^true$/i.test(stream.attrs.End ?? '') };
}

/** Signal body: the CommandId and the short code (terminate, ctrl_c, ctrl_break). */
export function signalCode(body: XmlElement): { commandId: string; code: string } | { fault: FaultName } {
  const sig = child(body, NS.rsp, 'Signal');
  const id = sig?.attrs.CommandId;
  const uri = child(sig, NS.rsp, 'Code')?.text.trim() ?? '';
  const m = /^http:\/\/schemas\.microsoft\.com\/wbem\/wsman\/1\/windows\/shell\/signal\/(terminate|ctrl_c|ctrl_break)$/i.exec(uri);
  if (!id || !m) return { fault: 'InvalidParameter' };
  return { commandId: id, code: m[1]!.toLowerCase() };
}
