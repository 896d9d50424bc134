/**
 * The client's response parser and CLIXML cleanup against real-shaped Windows transcripts (re-typed
 * from public captures with new ids, ../../../shared/ref/winrm.md §2): modern Create form, the
 * TimedOut long-poll fault, InvalidSelectors, QuotaLimit (MSFT_WmiError), Done with exit code 1, a
 * UTF-8 chunk, and a `0000` base64 chunk that must stay a string. Also the request templates.
 */
import { strict as assert } from 'node:assert';
import { cleanClixml, decodeClixmlEscapes } from '../../workers/winrm/client/clixml.js';
import { WSManFaultError, WinRMTransportError } from '../../workers/winrm/client/errors.js';
import { PS_PREFIX, decode, encodePs } from '../../workers/winrm/client/session.js';
import {
  buildEnvelope,
  commandBody,
  faultOf,
  parseCommandResponse,
  parseCreateResponse,
  parseEnvelope,
  parseReceiveResponse,
} from '../../workers/winrm/client/soap.js';
import { negotiateToken, offeredSchemes } from '../../workers/winrm/client/transport.js';

const NS =
  'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
  'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" ' +
  'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"';
const REQ = 'uuid:3F1C2B9A-0D4E-4B7F-9A21-5E6D7C8B9A01';
const CMD = '7A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D';
const SHELL_URI = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell';

function envelope(action: string, body: string): string {
  return (
    `<s:Envelope xml:lang="en-US" ${NS}><s:Header>` +
    `<a:Action>${action}</a:Action><a:MessageID>uuid:0E9D8C7B-6A59-4847-3625-140F1E2D3C4B</a:MessageID>` +
    `<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>${REQ}</a:RelatesTo>` +
    `</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

const CREATE_MODERN = envelope(
  'http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse',
  `<x:ResourceCreated><a:Address>http://win01:5985/wsman</a:Address><a:ReferenceParameters>` +
    `<w:ResourceURI>${SHELL_URI}/cmd</w:ResourceURI>` +
    `<w:SelectorSet><w:Selector Name="ShellId">11A2B3C4-D5E6-4F70-8192-A3B4C5D6E7F8</w:Selector></w:SelectorSet>` +
    `</a:ReferenceParameters></x:ResourceCreated>` +
    `<rsp:Shell xmlns:rsp="${SHELL_URI}"><rsp:ShellId>11A2B3C4-D5E6-4F70-8192-A3B4C5D6E7F8</rsp:ShellId>` +
    `<rsp:ResourceUri>${SHELL_URI}/cmd</rsp:ResourceUri><rsp:Owner>deploy</rsp:Owner><rsp:ClientIP>10.0.0.5</rsp:ClientIP>` +
    `<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>` +
    `<rsp:OutputStreams>stdout stderr</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>` +
    `<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`,
);

const TIMED_OUT = envelope(
  'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault',
  `<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code>` +
    `<s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </s:Text></s:Reason>` +
    `<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" Machine="win01">` +
    `<f:Message>The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </f:Message>` +
    `</f:WSManFault></s:Detail></s:Fault>`,
);

const INVALID_SELECTORS = envelope(
  'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault',
  `<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code>` +
    `<s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot process the request because the request contained invalid selectors for the resource. </s:Text></s:Reason>` +
    `<s:Detail><w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors</w:FaultDetail>` +
    `<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858843" Machine="win01">` +
    `<f:Message><f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll">The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier. </f:ProviderFault></f:Message>` +
    `</f:WSManFault></s:Detail></s:Fault>`,
);

const QUOTA = envelope(
  'http://schemas.dmtf.org/wbem/wsman/1/wsman/fault',
  `<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:QuotaLimit</s:Value></s:Subcode></s:Code>` +
    `<s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot process the request. This user is allowed a maximum number of 30 concurrent shells, which has been exceeded. </s:Text></s:Reason>` +
    `<s:Detail><p:MSFT_WmiError b:IsCIM_Error="true" xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" ` +
    `xmlns:p="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"><p:error_Code>2150859173</p:error_Code>` +
    `<p:Message>The WS-Management service cannot process the request.</p:Message></p:MSFT_WmiError></s:Detail></s:Fault>`,
);

const stream = (name: string, b64: string, end = false): string =>
  `<rsp:Stream Name="${name}" CommandId="${CMD}"${end ? ' End="true"' : ''}>${b64}</rsp:Stream>`;
const state = (s: 'Running' | 'Done', exit?: number): string =>
  exit === undefined
    ? `<rsp:CommandState CommandId="${CMD}" State="${SHELL_URI}/CommandState/${s}"/>`
    : `<rsp:CommandState CommandId="${CMD}" State="${SHELL_URI}/CommandState/${s}"><rsp:ExitCode>${exit}</rsp:ExitCode></rsp:CommandState>`;
const receive = (inner: string): string => envelope(`${SHELL_URI}/ReceiveResponse`, `<rsp:ReceiveResponse>${inner}</rsp:ReceiveResponse>`);

describe('winrm parse: real-shaped responses', () => {
  it('modern CreateResponse (ResourceCreated + rsp:Shell): ShellId from the Selector, RelatesTo read', () => {
    const res = parseEnvelope(CREATE_MODERN);
    assert.equal(res.relatesTo, REQ);
    assert.equal(res.action, 'http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse');
    assert.equal(parseCreateResponse(res), '11A2B3C4-D5E6-4F70-8192-A3B4C5D6E7F8');
  });

  it('old CreateResponse (rsp:Shell only) still yields the ShellId', () => {
    const res = parseEnvelope(envelope('…/CreateResponse', `<rsp:Shell><rsp:ShellId>ABC</rsp:ShellId></rsp:Shell>`));
    assert.equal(parseCreateResponse(res), 'ABC');
  });

  it('CommandResponse → CommandId', () => {
    const res = parseEnvelope(envelope(`${SHELL_URI}/CommandResponse`, `<rsp:CommandResponse><rsp:CommandId>${CMD}</rsp:CommandId></rsp:CommandResponse>`));
    assert.equal(parseCommandResponse(res), CMD);
  });

  it('the TimedOut fault → WSManFaultError with code, subcode, wsmanCode, machine; isTimedOut', () => {
    const f = faultOf(parseEnvelope(TIMED_OUT), 500, TIMED_OUT, 'receive');
    assert.ok(f instanceof WSManFaultError);
    assert.equal(f.httpStatus, 500);
    assert.equal(f.code, 's:Receiver');
    assert.equal(f.subcode, 'w:TimedOut');
    assert.equal(f.wsmanCode, '2150858793');
    assert.equal(f.machine, 'win01');
    assert.match(f.reason, /^The WS-Management service cannot complete the operation within the time specified in OperationTimeout\.$/);
    assert.equal(f.isTimedOut, true);
    assert.equal(f.isInvalidSelectors, false);
    assert.equal(f.phase, 'receive');
  });

  it('InvalidSelectors (command identifier wording) → WSManFaultError.isInvalidSelectors', () => {
    const f = faultOf(parseEnvelope(INVALID_SELECTORS), 500, INVALID_SELECTORS);
    assert.ok(f);
    assert.equal(f.code, 's:Sender');
    assert.equal(f.subcode, 'w:InvalidSelectors');
    assert.equal(f.wsmanCode, '2150858843');
    assert.equal(f.isInvalidSelectors, true);
    assert.match(f.message, /2150858843/);
  });

  it('QuotaLimit with an MSFT_WmiError detail → wsmanCode from error_Code', () => {
    const f = faultOf(parseEnvelope(QUOTA), 500, QUOTA);
    assert.ok(f);
    assert.equal(f.subcode, 'w:QuotaLimit');
    assert.equal(f.wsmanCode, '2150859173');
    assert.match(f.reason, /maximum number of 30 concurrent shells/);
  });

  it('a Running response with two stdout chunks', () => {
    const r = parseReceiveResponse(parseEnvelope(receive(stream('stdout', 'aGk=') + stream('stdout', 'DQo=') + state('Running'))));
    assert.deepEqual(r.chunks.map((c) => [c.stream, c.data.toString()]), [['stdout', 'hi'], ['stdout', '\r\n']]);
    assert.equal(r.done, false);
    assert.equal(r.exitCode, null);
  });

  it('Done with exit code 1: stdout and stderr in order, End markers skipped, nothing trimmed', () => {
    const xml = receive(
      stream('stdout', 'b3V0IA0K') + stream('stderr', 'ZXJyIA0K') + stream('stdout', '', true) + stream('stderr', '', true) + state('Done', 1),
    );
    const r = parseReceiveResponse(parseEnvelope(xml));
    assert.deepEqual(r.chunks.map((c) => [c.stream, c.data.toString()]), [['stdout', 'out \r\n'], ['stderr', 'err \r\n']]);
    assert.equal(r.done, true);
    assert.equal(r.exitCode, 1);
  });

  it('a large unsigned NTSTATUS exit code is kept as a number', () => {
    const r = parseReceiveResponse(parseEnvelope(receive(state('Done', 3221225786))));
    assert.equal(r.exitCode, 3221225786);
  });

  it('a UTF-8 chunk (こんにちは) split across two Receives decodes once, intact', () => {
    const bytes = Buffer.from('こんにちは\r\n');
    const a = parseReceiveResponse(parseEnvelope(receive(stream('stdout', bytes.subarray(0, 4).toString('base64')) + state('Running'))));
    const b = parseReceiveResponse(parseEnvelope(receive(stream('stdout', bytes.subarray(4).toString('base64')) + state('Done', 0))));
    const all = Buffer.concat([...a.chunks, ...b.chunks].map((c) => c.data));
    assert.equal(decode(all, 65001), 'こんにちは\r\n');
  });

  it('a `0000` base64 chunk stays a string (parseTagValue off): three zero bytes, not the number 0', () => {
    const r = parseReceiveResponse(parseEnvelope(receive(stream('stdout', '0000') + stream('stderr', 'MTIz') + state('Running'))));
    assert.deepEqual(r.chunks[0]!.data, Buffer.from([0xd3, 0x4d, 0x34]));
    assert.equal(r.chunks[1]!.data.toString(), '123');
  });

  it('CP437 output decodes through the table', () => {
    assert.equal(decode(Buffer.from([0x63, 0x61, 0x66, 0x82, 0x20, 0x81, 0x20, 0xab, 0x20, 0xb0]), 437), 'café ü ½ ░');
  });

  it('malformed XML and non-envelopes → WinRMTransportError', () => {
    assert.throws(() => parseEnvelope('<s:Envelope><oops'), WinRMTransportError);
    assert.throws(() => parseEnvelope('<html><body>Service Unavailable</body></html>'), WinRMTransportError);
  });
});

describe('winrm parse: requests and headers', () => {
  it('every request has the common header; Delete has an empty body; text is escaped', () => {
    const xml = buildEnvelope(
      { action: 'Delete', messageId: 'uuid:1', to: 'http://h:5985/wsman', maxEnvelopeSize: 153600, operationTimeoutSec: 20, shellId: 'S1' },
      '',
    );
    assert.match(xml, /<a:MessageID>uuid:1<\/a:MessageID>/);
    assert.match(xml, /<w:OperationTimeout>PT20S<\/w:OperationTimeout>/);
    assert.match(xml, /<w:MaxEnvelopeSize mustUnderstand="true">153600<\/w:MaxEnvelopeSize>/);
    assert.match(xml, /<w:Selector Name="ShellId">S1<\/w:Selector>/);
    assert.match(xml, /<a:Action mustUnderstand="true">http:\/\/schemas.xmlsoap.org\/ws\/2004\/09\/transfer\/Delete<\/a:Action>/);
    assert.match(xml, /<env:Body\/><\/env:Envelope>$/);
    assert.equal(commandBody('echo', ['a&b', '<c>', '"d"']), '<rsp:CommandLine><rsp:Command>echo</rsp:Command><rsp:Arguments>a&amp;b &lt;c&gt; &quot;d&quot;</rsp:Arguments></rsp:CommandLine>');
  });

  it('runPs encoding: -EncodedCommand is UTF-16LE base64 of the prefix + the exact script', () => {
    const script = `Write-Output "a 'b' $c & | < > %d%"\r\nü – 😀`;
    const args = encodePs(script);
    assert.deepEqual(args.slice(0, -1), ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand']);
    assert.equal(Buffer.from(args.at(-1)!, 'base64').toString('utf16le'), PS_PREFIX + script);
  });

  it('WWW-Authenticate: every instance is read; the Negotiate token is found', () => {
    const headers = { 'www-authenticate': ['Negotiate', 'Basic realm="WSMAN"'] };
    assert.deepEqual(offeredSchemes(headers), ['Negotiate', 'Basic']);
    assert.deepEqual(offeredSchemes({ 'www-authenticate': 'Negotiate, Basic realm="WSMAN", Kerberos' }), ['Negotiate', 'Basic', 'Kerberos']);
    assert.deepEqual(negotiateToken({ 'www-authenticate': ['Negotiate TlRMTVNTUAACAAAA', 'Basic realm="WSMAN"'] }), Buffer.from('TlRMTVNTUAACAAAA', 'base64'));
    assert.equal(negotiateToken(headers), undefined);
  });
});

describe('winrm parse: CLIXML cleanup', () => {
  const objs = (inner: string): string => `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">${inner}</Objs>`;
  const progress =
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN>' +
    '<MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC>' +
    '<T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>';
  const errors =
    '<S S="Error">Write-Error "Error" : Error_x000D__x000A_</S>' +
    '<S S="Error">    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException_x000D__x000A_</S>' +
    '<S S="Error">    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException_x000D__x000A_</S>';

  it('keeps the Error strings and decodes _xHHHH_', () => {
    const out = cleanClixml(`#< CLIXML\r\n${objs(errors)}`);
    assert.equal(
      out,
      'Write-Error "Error" : Error\r\n    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException\r\n' +
        '    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException\r\n',
    );
  });

  it('progress-only CLIXML cleans to the empty string (not an error)', () => {
    assert.equal(cleanClixml(`#< CLIXML\r\n${objs(progress)}`), '');
  });

  it('several <Objs> documents, progress first, and text before the marker', () => {
    const out = cleanClixml(`native tool said hi\r\n#< CLIXML\r\n${objs(progress)}${objs(errors)}`);
    assert.match(out, /^native tool said hi\r\nWrite-Error "Error" : Error\r\n/);
    assert.doesNotMatch(out, /Preparing modules/);
  });

  it('non-Error streams (warning, verbose) are dropped, entities and escapes decoded, _x005F_ is a literal underscore', () => {
    const out = cleanClixml(`#< CLIXML\r\n${objs('<S S="warning">careful</S><S S="Error">a &lt;b&gt; &amp; _x005F_x000D_ ü_x00E9_</S>')}`);
    assert.equal(out, 'a <b> & _x000D_ üé');
    assert.equal(decodeClixmlEscapes('_xD83D__xDE00_'), '😀');
  });

  it('falls back to the raw text when a document does not parse; plain stderr passes through', () => {
    const broken = `#< CLIXML\r\n<Objs Version="1.1.0.1"><S S="Error">x</Q></Objs>`;
    assert.equal(cleanClixml(broken), broken);
    assert.equal(cleanClixml('#< CLIXML\r\nnot xml at all'), '#< CLIXML\r\nnot xml at all');
    assert.equal(cleanClixml('plain error\r\n'), 'plain error\r\n');
  });
});

describe('winrm parse: secrets never reach an error', () => {
  it('bad Basic / NTLM password, a fault and a refused connection: no password or Authorization in message or JSON', async () => {
    const { createWinRMServer } = await import('../support/winrm-server/index.js');
    const { createWinRMClient } = await import('../../workers/winrm/client/index.js');
    const secret = 'Sup3r-S3cret-Pässword';
    const server = await createWinRMServer({ auth: { basic: { users: { deploy: 'right' } }, ntlm: { users: { deploy: 'right' } } }, allowUnencrypted: true });
    const basicHeader = Buffer.from(`deploy:${secret}`).toString('base64');
    const errors: unknown[] = [];
    try {
      for (const auth of [{ type: 'basic', username: 'deploy', password: secret }, { type: 'ntlm', username: 'deploy', password: secret }] as const) {
        const c = createWinRMClient({ endpoint: server.url, auth });
        errors.push(await c.runCmd('hostname').catch((e: unknown) => e));
        await c.close();
      }
      const refused = createWinRMClient({ endpoint: 'http://127.0.0.1:1/wsman', auth: { type: 'basic', username: 'deploy', password: secret } });
      errors.push(await refused.runCmd('hostname').catch((e: unknown) => e));
    } finally {
      await server.close();
    }
    assert.equal(errors.length, 3);
    for (const e of errors) {
      assert.ok(e instanceof Error, 'expected a rejection');
      const text = `${e.message} ${e.stack ?? ''} ${JSON.stringify(e)} ${String((e as { cause?: unknown }).cause ?? '')}`;
      assert.ok(!text.includes(secret) && !text.includes(basicHeader), `secret leaked: ${e.name}`);
    }
  });
});
