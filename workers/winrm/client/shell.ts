/**
 * One remote shell over one transport: Create, Command, Send, Receive (one long-poll), Signal, Delete.
 * Retry policy (docs/winrm.md): Create and Command are never replayed; Signal and Delete are retried
 * once, and InvalidSelectors (shell or command already gone) counts as success for them.
 */
import { WSManFaultError, WinRMCancelledError, type WinRMPhase } from './errors.js';
import {
  buildEnvelope,
  commandBody,
  createBody,
  parseCommandResponse,
  parseCreateResponse,
  parseReceiveResponse,
  receiveBody,
  sendBody,
  signalBody,
  SIGNAL_TERMINATE,
  type Operation,
  type ReceiveResult,
  type SoapResponse,
} from './soap.js';
import type { WinRMTransport } from './transport.js';

/** Envelope settings shared by every request of a shell. */
export interface ShellSettings {
  to: string;
  maxEnvelopeSize: number;
  operationTimeoutSec: number;
  codepage: number;
}

const PHASE: Record<Operation, WinRMPhase> = {
  Create: 'create',
  Command: 'command',
  Send: 'send',
  Receive: 'receive',
  Signal: 'signal',
  Delete: 'delete',
};

/** A shell on the host. `id` is set once Create succeeded. */
export class RemoteShell {
  id: string | undefined;

  constructor(private readonly transport: WinRMTransport, private readonly settings: ShellSettings) {}

  private async call(action: Operation, body: string, opts: { options?: Record<string, string>; signal?: AbortSignal } = {}): Promise<SoapResponse> {
    const build = (messageId: string): string => buildEnvelope(
      {
        action,
        messageId,
        to: this.settings.to,
        maxEnvelopeSize: this.settings.maxEnvelopeSize,
        operationTimeoutSec: this.settings.operationTimeoutSec,
        shellId: action === 'Create' ? undefined : this.id,
        options: opts.options,
      },
      body,
    );
    return this.transport.exchange(build, PHASE[action], opts.signal);
  }

  async create(o: { env?: Record<string, string>; workingDirectory?: string }, signal?: AbortSignal): Promise<string> {
    const res = await this.call('Create', createBody(o), {
      options: { WINRS_NOPROFILE: 'FALSE', WINRS_CODEPAGE: String(this.settings.codepage) },
      signal,
    });
    this.id = parseCreateResponse(res);
    return this.id;
  }

  async command(command: string, args: readonly string[], signal?: AbortSignal): Promise<string> {
    const res = await this.call('Command', commandBody(command, args), {
      options: { WINRS_CONSOLEMODE_STDIN: 'TRUE', WINRS_SKIP_CMD_SHELL: 'FALSE' },
      signal,
    });
    return parseCommandResponse(res);
  }

  /** Writes `data` to the command's stdin; `end` closes it. */
  async send(commandId: string, data: Buffer, end: boolean, signal?: AbortSignal): Promise<void> {
    await this.call('Send', sendBody(commandId, data, end), { signal });
  }

  /**
   * One Receive long-poll. Returns undefined when the host's OperationTimeout expired with nothing to
   * say (the w:TimedOut fault), which the caller answers with the next Receive.
   */
  async receive(commandId: string, signal?: AbortSignal): Promise<ReceiveResult | undefined> {
    try {
      const res = await this.call('Receive', receiveBody(commandId), { options: { WSMAN_CMDSHELL_OPTION_KEEPALIVE: 'TRUE' }, signal });
      return parseReceiveResponse(res);
    } catch (err) {
      if (err instanceof WSManFaultError && err.isTimedOut) return undefined;
      throw err;
    }
  }

  /** Signal terminate (or another code). Retried once; InvalidSelectors = the command is already gone. */
  async signal(commandId: string, code: string = SIGNAL_TERMINATE): Promise<void> {
    await this.idempotent(() => this.call('Signal', signalBody(commandId, code)));
  }

  /** Delete the shell. Retried once; InvalidSelectors = already gone. */
  async delete(): Promise<void> {
    if (!this.id) return;
    await this.idempotent(() => this.call('Delete', ''));
    this.id = undefined;
  }

  private async idempotent(op: () => Promise<unknown>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await op();
        return;
      } catch (err) {
        if (err instanceof WSManFaultError && err.isInvalidSelectors) return;
        // A fault other than InvalidSelectors is an answer, not a lost message: do not repeat it.
        if (attempt > 0 || err instanceof WSManFaultError || err instanceof WinRMCancelledError) throw err;
      }
    }
  }
}
