/**
 * Response envelopes and canned faults, in the shapes real Windows hosts emit (../../../../shared/ref/winrm.md §2.3–§2.10).
 * Texts come from public captures where one exists; the others are marked "approximate".
 */
import { randomUUID } from 'node:crypto';
import { xmlEscape } from './xml.js';

/** Namespace URIs the server resolves and emits. */
export const NS = {
  s: 'http://www.w3.org/2003/05/soap-envelope',
  a: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  x: 'http://schemas.xmlsoap.org/ws/2004/09/transfer',
  w: 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd',
  p: 'http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd',
  rsp: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell',
  f: 'http://schemas.microsoft.com/wbem/wsman/1/wsmanfault',
} as const;

export const ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous';
export const SHELL_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd';
export const FAULT_ACTION = 'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault';
export const STATE_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/';

/** The six actions of the cmd shell, by short name. */
export const ACTIONS = {
  Create: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create',
  Delete: 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete',
  Command: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command',
  Receive: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive',
  Send: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send',
  Signal: 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal',
} as const;
export type ActionName = keyof typeof ACTIONS;

const NSDECL = `xmlns:s="${NS.s}" xmlns:a="${NS.a}" xmlns:x="${NS.x}" xmlns:w="${NS.w}" xmlns:rsp="${NS.rsp}" xmlns:p="${NS.p}"`;

/** A complete response envelope: fresh MessageID, RelatesTo = the request's MessageID. */
export function envelope(action: string, relatesTo: string | undefined, body: string): string {
  const relates = relatesTo ? `<a:RelatesTo>${xmlEscape(relatesTo)}</a:RelatesTo>` : '';
  return (
    `<s:Envelope xml:lang="en-US" ${NSDECL}><s:Header><a:Action>${action}</a:Action>` +
    `<a:MessageID>uuid:${randomUUID().toUpperCase()}</a:MessageID><a:To>${ANONYMOUS}</a:To>${relates}</s:Header>` +
    `<s:Body>${body}</s:Body></s:Envelope>`
  );
}

/** The names of the canned faults `inject({ fault })` accepts. */
export type FaultName =
  | 'TimedOut' | 'InvalidSelectors' | 'InvalidShell' | 'QuotaLimit' | 'AccessDenied' | 'InvalidParameter'
  | 'SchemaValidationError' | 'InvalidHeader' | 'MustUnderstand' | 'ActionNotSupported' | 'DestinationUnreachable'
  | 'EncodingLimit';

/** A fault to render: SOAP code/subcode, reason and either a WSManFault detail or a raw detail. */
export interface FaultSpec {
  code: 's:Sender' | 's:Receiver' | 's:MustUnderstand';
  subcode?: string;
  reason: string;
  /** f:WSManFault@Code; omitted → no WSManFault element. */
  wsmanCode?: number;
  message?: string;
  /** Raw XML placed in s:Detail instead of the WSManFault (e.g. MSFT_WmiError). */
  detail?: string;
}

const CMD_GONE =
  'The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. ' +
  'Either the command has completed execution or the client specified an invalid command identifier. ';
const SELECTORS_REASON = 'The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ';
const TIMED_OUT = 'The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  ';

/** Canned faults of §2.10; `arg` fills the variable part (shell id, bad header value, …). */
export function cannedFault(name: FaultName, arg = ''): FaultSpec {
  switch (name) {
    case 'TimedOut':
      return { code: 's:Receiver', subcode: 'w:TimedOut', reason: TIMED_OUT, wsmanCode: 2150858793, message: TIMED_OUT };
    case 'InvalidSelectors':
      return {
        code: 's:Sender', subcode: 'w:InvalidSelectors', reason: SELECTORS_REASON, wsmanCode: 2150858843, message: CMD_GONE,
        detail: `<w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors</w:FaultDetail>`,
      };
    case 'InvalidShell':
      return {
        code: 's:Sender', subcode: 'w:InvalidSelectors', reason: SELECTORS_REASON, wsmanCode: 2150858843,
        message:
          `<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">` +
          `The request for the Windows Remote Shell with ShellId ${xmlEscape(arg)} failed because the shell was not found on the server. ` +
          'Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. ' +
          'Provide the correct ShellId or create a new shell and retry the operation. </f:ProviderFault>',
      };
    case 'InvalidParameter':
      return {
        code: 's:Sender', subcode: 'w:InvalidParameter', reason: 'The parameter is incorrect. ', wsmanCode: 87,
        message: `<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">The parameter is incorrect. </f:ProviderFault>`,
        detail: `<w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue</w:FaultDetail>`,
      };
    case 'InvalidHeader':
      return {
        code: 's:Sender', subcode: 'a:InvalidMessageInformationHeader',
        reason: 'The WS-Management service cannot process the request. The request contains one or more invalid SOAP headers. ',
        wsmanCode: 2150858767,
        message: `The WS-Management service cannot process the request because the request contained an invalid timeout field in the SOAP header: ${xmlEscape(arg)}. `,
      };
    case 'SchemaValidationError':
      return {
        code: 's:Sender', subcode: 'w:SchemaValidationError',
        reason: 'The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. ',
        wsmanCode: 2150858817,
        message: 'The Windows Remote Shell cannot process the request. The SOAP packet contains an element Argument that is invalid. Retry the request with the correct XML element. ',
      };
    case 'MustUnderstand':
      return { code: 's:MustUnderstand', reason: `The WS-Management service cannot process a SOAP header in the request that is marked as mustUnderstand by the client.  This could be caused by the use of a version of the protocol which is not supported, or may be an incompatibility  between the client and server implementations. ${xmlEscape(arg)}` };
    case 'QuotaLimit':
      return {
        code: 's:Sender', subcode: 'w:QuotaLimit',
        reason: 'The WS-Management service cannot process the request. The maximum number of concurrent shells for this user has been exceeded. Close existing shells or raise the quota for this user. ',
        detail:
          `<p:MSFT_WmiError b:IsCIM_Error="true" xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
          `<p:CIMStatusCode xsi:type="cim:cimUnsignedInt">27</p:CIMStatusCode><p:CIMStatusCodeDescription xsi:type="cim:cimString" xsi:nil="true"/>` +
          `<p:ErrorSource xsi:type="cim:cimString" xsi:nil="true"/><p:ErrorSourceFormat xsi:type="cim:cimUnsignedShort">0</p:ErrorSourceFormat>` +
          `<p:ErrorType xsi:type="cim:cimUnsignedShort">0</p:ErrorType>` +
          `<p:Message xsi:type="cim:cimString">The WS-Management service cannot process the request. This user is allowed a maximum number of ${xmlEscape(arg || '30')} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. </p:Message>` +
          `<p:MessageID xsi:type="cim:cimString">HRESULT 0x803381a5</p:MessageID><p:OtherErrorSourceFormat xsi:type="cim:cimString" xsi:nil="true"/>` +
          `<p:OtherErrorType xsi:type="cim:cimString" xsi:nil="true"/><p:OwningEntity xsi:type="cim:cimString" xsi:nil="true"/>` +
          `<p:PerceivedSeverity xsi:type="cim:cimUnsignedShort">0</p:PerceivedSeverity><p:ProbableCause xsi:type="cim:cimUnsignedShort">0</p:ProbableCause>` +
          `<p:ProbableCauseDescription xsi:type="cim:cimString" xsi:nil="true"/><p:error_Category xsi:type="cim:cimUnsignedInt">30</p:error_Category>` +
          `<p:error_Code xsi:type="cim:cimUnsignedInt">2150859173</p:error_Code><p:error_Type xsi:type="cim:cimString">HRESULT</p:error_Type>` +
          `<p:error_WindowsErrorMessage xsi:type="cim:cimString">The WS-Management service cannot process the request. This user is allowed a maximum number of ${xmlEscape(arg || '30')} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. </p:error_WindowsErrorMessage>` +
          `</p:MSFT_WmiError>`,
      };
    case 'AccessDenied': // approximate: no real capture
      return { code: 's:Sender', subcode: 'w:AccessDenied', reason: 'Access is denied. ', wsmanCode: 5, message: 'Access is denied. ' };
    case 'ActionNotSupported': // approximate
      return {
        code: 's:Sender', subcode: 'a:ActionNotSupported',
        reason: 'The action is not supported by the service. ', wsmanCode: 2150858771,
        message: `The WS-Management service cannot process the request because the action ${xmlEscape(arg)} is not supported. `,
      };
    case 'DestinationUnreachable': // approximate
      return {
        code: 's:Sender', subcode: 'w:DestinationUnreachable',
        reason: 'No route can be determined to reach the destination role defined by the WSAddressing To. ', wsmanCode: 2150858770,
        message: `The WS-Management service cannot process the request. The resource URI ${xmlEscape(arg)} is not valid or is not supported. `,
      };
    case 'EncodingLimit': // approximate
      return {
        code: 's:Sender', subcode: 'w:EncodingLimit',
        reason: 'The WS-Management service cannot process the request because the envelope size in the request is invalid. ', wsmanCode: 2150858818,
        message: `The MaxEnvelopeSize ${xmlEscape(arg)} is outside the range the service accepts (8192 to 4294967295). `,
      };
  }
}

/** Renders a fault envelope (always sent with HTTP 500). */
export function faultEnvelope(spec: FaultSpec, relatesTo: string | undefined, machine: string): string {
  const sub = spec.subcode ? `<s:Subcode><s:Value>${spec.subcode}</s:Value></s:Subcode>` : '';
  let detail = '';
  if (spec.wsmanCode !== undefined) {
    const extra = spec.detail ?? '';
    detail =
      `<s:Detail>${extra.startsWith('<w:FaultDetail') ? extra : ''}<f:WSManFault xmlns:f="${NS.f}" Code="${spec.wsmanCode}" Machine="${xmlEscape(machine)}">` +
      `<f:Message>${spec.message ?? xmlEscape(spec.reason)}</f:Message></f:WSManFault></s:Detail>`;
  } else if (spec.detail) {
    detail = `<s:Detail>${spec.detail}</s:Detail>`;
  }
  const body =
    `<s:Fault><s:Code><s:Value>${spec.code}</s:Value>${sub}</s:Code>` +
    `<s:Reason><s:Text xml:lang="en-US">${spec.reason}</s:Text></s:Reason>${detail}</s:Fault>`;
  return envelope(FAULT_ACTION, relatesTo, body);
}
