/**
 * WS-Management SOAP for the Windows Remote Shell: request envelopes from small templates (exact
 * prefixes, pywinrm's shape) and response parsing with fast-xml-parser. Parsing ignores prefixes
 * (`removeNSPrefix`) and keeps every value a string (`parseTagValue:false`: a `0000` base64 chunk
 * must stay a string).
 */
import { randomUUID } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import { WSManFaultError, WinRMTransportError, type WinRMPhase } from './errors.js';

export const NS = {
  env: 'http://www.w3.org/2003/05/soap-envelope',
  a: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  w: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  p: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  rsp: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
} as const;

export const RESOURCE_URI_CMD = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd';
const SHELL = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';
const ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous';

/** a:Action of each operation. */
export const ACTIONS = {
  Create: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create',
  Delete: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete',
  Command: `${SHELL}/Command`,
  Receive: `${SHELL}/Receive`,
  Send: `${SHELL}/Send`,
  Signal: `${SHELL}/Signal`,
} as const;
export type Operation = keyof typeof ACTIONS;

export const SIGNAL_TERMINATE = `${SHELL}/signal/terminate`;
export const SIGNAL_CTRL_C = `${SHELL}/signal/ctrl_c`;
const STATE_DONE = `${SHELL}/CommandState/Done`;

/** Escapes text and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Header parameters of one request. */
export interface EnvelopeParams {
  action: Operation;
  /** `uuid:<uuid4>`; new per message (see {@link newMessageId}). */
  messageId: string;
  /** a:To; Windows ignores it. */
  to: string;
  maxEnvelopeSize: number;
  operationTimeoutSec: number;
  shellId?: string;
  options?: Record<string, string>;
}

export function newMessageId(): string {
  return `uuid:${randomUUID()}`;
}

/** A full request envelope; `body` is the inner XML of env:Body ('' for Delete). */
export function buildEnvelope(h: EnvelopeParams, body: string): string {
  const selector = h.shellId
    ? `<w:SelectorSet><w:Selector Name="ShellId">${xmlEscape(h.shellId)}</w:Selector></w:SelectorSet>`
    : '';
  const options = h.options && Object.keys(h.options).length > 0
    ? `<w:OptionSet>${Object.entries(h.options).map(([k, v]) => `<w:Option Name="${xmlEscape(k)}">${xmlEscape(v)}</w:Option>`).join('')}</w:OptionSet>`
    : '';
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<env:Envelope xmlns:env="${NS.env}" xmlns:a="${NS.a}" xmlns:w="${NS.w}" xmlns:p="${NS.p}" xmlns:rsp="${NS.rsp}">` +
    `<env:Header>` +
    `<a:To>${xmlEscape(h.to)}</a:To>` +
    `<a:ReplyTo><a:Address mustUnderstand="true">${ANONYMOUS}</a:Address></a:ReplyTo>` +
    `<w:MaxEnvelopeSize mustUnderstand="true">${h.maxEnvelopeSize}</w:MaxEnvelopeSize>` +
    `<a:MessageID>${h.messageId}</a:MessageID>` +
    `<w:Locale mustUnderstand="false" xml:lang="en-US"/>` +
    `<p:DataLocale mustUnderstand="false" xml:lang="en-US"/>` +
    `<w:OperationTimeout>PT${h.operationTimeoutSec}S</w:OperationTimeout>` +
    `<w:ResourceURI mustUnderstand="true">${RESOURCE_URI_CMD}</w:ResourceURI>` +
    `<a:Action mustUnderstand="true">${ACTIONS[h.action]}</a:Action>` +
    selector +
    options +
    `</env:Header>` +
    (body ? `<env:Body>${body}</env:Body>` : `<env:Body/>`) +
    `</env:Envelope>`
  );
}

/** rsp:Shell for Create. Element order as pywinrm sends it. */
export function createBody(o: { workingDirectory?: string; env?: Record<string, string> }): string {
  let x = `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>`;
  if (o.workingDirectory) x += `<rsp:WorkingDirectory>${xmlEscape(o.workingDirectory)}</rsp:WorkingDirectory>`;
  const env = Object.entries(o.env ?? {});
  if (env.length > 0) {
    x += `<rsp:Environment>${env.map(([k, v]) => `<rsp:Variable Name="${xmlEscape(k)}">${xmlEscape(v)}</rsp:Variable>`).join('')}</rsp:Environment>`;
  }
  return `${x}</rsp:Shell>`;
}

/** rsp:CommandLine; arguments are joined with spaces into one rsp:Arguments, as pywinrm does. */
export function commandBody(command: string, args: readonly string[]): string {
  const a = args.length > 0 ? `<rsp:Arguments>${xmlEscape(args.join(' '))}</rsp:Arguments>` : '';
  return `<rsp:CommandLine><rsp:Command>${xmlEscape(command)}</rsp:Command>${a}</rsp:CommandLine>`;
}

export function receiveBody(commandId: string): string {
  return `<rsp:Receive><rsp:DesiredStream CommandId="${xmlEscape(commandId)}">stdout stderr</rsp:DesiredStream></rsp:Receive>`;
}

export function sendBody(commandId: string, data: Buffer, end: boolean): string {
  return `<rsp:Send><rsp:Stream Name="stdin" CommandId="${xmlEscape(commandId)}"${end ? ' End="true"' : ''}>${data.toString('base64')}</rsp:Stream></rsp:Send>`;
}

export function signalBody(commandId: string, code: string = SIGNAL_TERMINATE): string {
  return `<rsp:Signal CommandId="${xmlEscape(commandId)}"><rsp:Code>${code}</rsp:Code></rsp:Signal>`;
}

// ---------------------------------------------------------------------------------------------------
// Parsing

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  removeNSPrefix: true,
  isArray: (name) => ['Stream', 'Selector', 'Option', 'Text'].includes(name),
});

type Node = Record<string, unknown>;

/** A parsed response: the header fields we check and the body element. */
export interface SoapResponse {
  action: string | undefined;
  relatesTo: string | undefined;
  body: Node;
}

/** Text of an element that may carry attributes. */
export function textOf(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return textOf(v[0]);
  if (typeof v === 'object') return textOf((v as Node)['#text']);
  return String(v);
}

function asNode(v: unknown): Node {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : {};
}

/** Parses an envelope; throws WinRMTransportError when it is not one. */
export function parseEnvelope(xml: string, phase?: WinRMPhase): SoapResponse {
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (err) {
    throw new WinRMTransportError('the host answered with malformed XML', { cause: err, phase });
  }
  const env = asNode(doc['Envelope']);
  if (!('Body' in env)) throw new WinRMTransportError('the host answered with XML that is not a SOAP envelope', { phase });
  const header = asNode(env['Header']);
  return {
    action: textOf(header['Action']) || undefined,
    relatesTo: textOf(header['RelatesTo']) || undefined,
    body: asNode(env['Body']),
  };
}

/** The WSManFaultError in a response, or undefined when the body holds no s:Fault. */
export function faultOf(res: SoapResponse, httpStatus: number, raw: string, phase?: WinRMPhase): WSManFaultError | undefined {
  const fault = res.body['Fault'];
  if (fault === undefined) return undefined;
  const f = asNode(fault);
  const code = asNode(f['Code']);
  const detail = asNode(f['Detail']);
  const wsman = asNode(detail['WSManFault']);
  const wmi = asNode(detail['MSFT_WmiError']);
  const reasonTexts = asNode(f['Reason'])['Text'];
  const reason = (Array.isArray(reasonTexts) ? reasonTexts.map(textOf).join(' ') : textOf(reasonTexts)).trim();
  const message = textOf(wsman['Message']).trim();
  const wsmanCode = (wsman['@_Code'] as string | undefined) ?? (textOf(wmi['error_Code']) || undefined);
  return new WSManFaultError({
    httpStatus,
    code: textOf(code['Value']),
    subcode: textOf(asNode(code['Subcode'])['Value']) || undefined,
    wsmanCode,
    reason: reason || message || textOf(wmi['Message']) || 'no reason given',
    machine: wsman['@_Machine'] as string | undefined,
    raw,
    phase,
  });
}

/** ShellId from a CreateResponse: the Selector named ShellId (modern and old forms), else rsp:Shell/ShellId. */
export function parseCreateResponse(res: SoapResponse): string {
  const created = asNode(res.body['ResourceCreated']);
  const selectors = asNode(asNode(created['ReferenceParameters'])['SelectorSet'])['Selector'];
  if (Array.isArray(selectors)) {
    for (const s of selectors) if (asNode(s)['@_Name'] === 'ShellId') return textOf(s);
  }
  const id = textOf(asNode(res.body['Shell'])['ShellId']);
  if (!id) throw new WinRMTransportError('CreateResponse carries no ShellId', { phase: 'create' });
  return id;
}

export function parseCommandResponse(res: SoapResponse): string {
  const id = textOf(asNode(res.body['CommandResponse'])['CommandId']);
  if (!id) throw new WinRMTransportError('CommandResponse carries no CommandId', { phase: 'command' });
  return id;
}

/** One Receive: the decoded chunks in order, whether the command is Done, and its exit code. */
export interface ReceiveResult {
  chunks: Array<{ stream: 'stdout' | 'stderr'; data: Buffer }>;
  done: boolean;
  exitCode: number | null;
}

export function parseReceiveResponse(res: SoapResponse): ReceiveResult {
  const rr = asNode(res.body['ReceiveResponse']);
  const chunks: ReceiveResult['chunks'] = [];
  for (const s of (rr['Stream'] as unknown[] | undefined) ?? []) {
    const name = asNode(s)['@_Name'];
    const b64 = textOf(s);
    if ((name === 'stdout' || name === 'stderr') && b64) chunks.push({ stream: name, data: Buffer.from(b64, 'base64') });
  }
  const state = asNode(rr['CommandState']);
  const done = state['@_State'] === STATE_DONE || (typeof state['@_State'] === 'string' && state['@_State'].endsWith('CommandState/Done'));
  const codeText = textOf(state['ExitCode']).trim();
  const exitCode = codeText !== '' && /^-?\d+$/.test(codeText) ? Number(codeText) : null;
  return { chunks, done, exitCode };
}
