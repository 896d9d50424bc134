/**
 * A protocol-faithful WinRM test server (../../../../shared/ref/winrm.md §3): the one fake the test suites may use,
 * because no Windows host runs here. `createWinRMServer` starts it on 127.0.0.1:0; `close()` rejects when the client
 * broke protocol hygiene (open shells, duplicate MessageIDs, hot loops, …).
 */
import { FakeWinRMServer } from './server.js';
import type { InjectRule, Lint, LintKind, RequestRecord, WinRMServerConfig } from './types.js';
import type { CommandInfo } from './commands.js';
import type { ShellInfo } from './shells.js';
import type { ScriptEntry, Step } from './scripts.js';
import type { FaultName, FaultSpec } from './envelope.js';

export { fixtures } from './fixtures.js';
export { zatoExamples, clixml } from './scripts.js';
export type { InjectRule, Lint, LintKind, RequestRecord, WinRMServerConfig, CommandInfo, ShellInfo, ScriptEntry, Step, FaultName, FaultSpec };

/** A running fake WinRM host. */
export interface WinRMTestServer {
  /** `http(s)://127.0.0.1:<port>/wsman` */
  url: string;
  /** Every HTTP request, in arrival order (auth legs included; they have no `action`). */
  requests: RequestRecord[];
  /** Open shells by id. */
  shells: ReadonlyMap<string, ShellInfo>;
  /** Every command ever started (live objects). */
  commands: CommandInfo[];
  /** Findings so far; `close()` fails on those not allowed. */
  lints: Lint[];
  /** Most shells open at the same time so far. */
  peakShells(): number;
  /** Number of open TCP/TLS connections. */
  connections(): number;
  inject(rule: InjectRule): void;
  /** Appends script entries (first match wins; built-ins and the Zato examples come last). */
  script(entries: ScriptEntry[]): void;
  allowLint(...kinds: LintKind[]): void;
  /** The actions of the SOAP requests so far, in order. */
  actions(): string[];
  close(): Promise<void>;
}

/** Starts a fake WinRM host on 127.0.0.1:0. */
export async function createWinRMServer(config: WinRMServerConfig): Promise<WinRMTestServer> {
  const s = new FakeWinRMServer(config);
  await s.listen();
  return {
    url: s.url,
    requests: s.requests,
    shells: s.host.shells,
    commands: s.host.commands,
    lints: s.lints,
    peakShells: () => s.host.peakShells,
    connections: () => s.connections,
    inject: (rule) => s.inject(rule),
    script: (entries) => s.script(entries),
    allowLint: (...kinds) => s.allowLint(...kinds),
    actions: () => s.requests.filter((r) => r.action !== undefined).map((r) => r.action as string),
    close: () => s.close(),
  };
}
