/**
 * The WinRM command ACL: which principal may run which command lines (cmd) and scripts (ps) on which
 * hosts. Deny by default; the `admin` role may run anything. A pattern is a glob over the whole
 * command: `*` matches any run of characters except that shell's separators and metacharacters, so
 * `dir *` allows `dir c:\temp` but not `dir c: & del /q x`; `**` matches anything (explicit opt-in).
 * Matching ignores case, as cmd.exe and PowerShell do.
 */
import type { ConfigStore } from '../../broker/types.js';
import { ADMIN_ROLE, userKey } from '../../schemas/user.js';
import { WINRM_ACL_PREFIX, type WinrmAcl } from '../../schemas/winrm.js';

/** The two kinds of command a job may run. */
export type WinrmCommandType = 'cmd' | 'ps';

// Characters a single `*` never crosses, per shell. Line breaks and every other control character are
// excluded for both (a second line is a second command). PowerShell: `( ) { }` because in argument mode
// `Get-Item (Remove-Item x)` runs the inner command (this also covers `$(`); `< >` redirect to files.
const FORBIDDEN: Record<WinrmCommandType, string> = {
  cmd: '&|<>^%',
  ps: ';|&`(){}<>',
};

function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f || code === 0x85 || code === 0x2028 || code === 0x2029;
}

type Token = { kind: 'lit'; ch: number } | { kind: 'star' } | { kind: 'any' };

/**
 * A compiled command pattern. Matching simulates the pattern as an automaton over the command, one
 * pass with a deduplicated set of states: O(length of command × length of pattern) at worst, never the
 * exponential backtracking a RegExp with several `*` shows on a long command that does not match
 * (the command is the caller's, so that would let any principal with one rule stall a worker).
 */
export class CommandPattern {
  private readonly tokens: Token[] = [];
  private readonly forbidden: Set<number>;

  constructor(readonly pattern: string, readonly type: WinrmCommandType) {
    this.forbidden = new Set([...FORBIDDEN[type]].map((c) => c.charCodeAt(0)));
    const p = pattern.toLowerCase();
    for (let i = 0; i < p.length; i++) {
      if (p[i] === '*' && p[i + 1] === '*') {
        while (p[i + 1] === '*') i++;
        this.tokens.push({ kind: 'any' });
      } else if (p[i] === '*') {
        this.tokens.push({ kind: 'star' });
      } else {
        this.tokens.push({ kind: 'lit', ch: p.charCodeAt(i) });
      }
    }
  }

  /** Whether the whole of `command` matches, ignoring case. */
  test(command: string): boolean {
    const s = command.toLowerCase();
    const tokens = this.tokens;
    const n = tokens.length;
    const seen = new Int32Array(n + 1).fill(-1);
    // Two state lists, swapped per character; each holds a state at most once (`seen`).
    let cur = new Int32Array(n + 1);
    let next = new Int32Array(n + 1);
    let curLen = 0;
    let nextLen = 0;
    const add = (state: number, gen: number): void => {
      // A star or any-run may match nothing: entering it also enters what follows it.
      for (let i = state; i <= n && seen[i] !== gen; i++) {
        seen[i] = gen;
        next[nextLen++] = i;
        if (i === n || tokens[i]?.kind === 'lit') break;
      }
    };
    add(0, 0);
    for (let pos = 0; pos <= s.length; pos++) {
      const swap = cur;
      cur = next;
      next = swap;
      curLen = nextLen;
      nextLen = 0;
      if (curLen === 0) return false;
      if (pos === s.length) break;
      const c = s.charCodeAt(pos);
      const starOk = !this.forbidden.has(c) && !isControl(c);
      for (let k = 0; k < curLen; k++) {
        const i = cur[k] as number;
        const t = tokens[i];
        if (!t) continue;
        if (t.kind === 'lit') {
          if (t.ch === c) add(i + 1, pos + 1);
        } else if (t.kind === 'any' || starOk) {
          add(i, pos + 1);
        }
      }
    }
    for (let k = 0; k < curLen; k++) if (cur[k] === n) return true;
    return false;
  }
}

/** Compiles one command pattern (see the module comment for the syntax). */
export function compileCommandPattern(pattern: string, type: WinrmCommandType): CommandPattern {
  return new CommandPattern(pattern, type);
}

/** Compiles a host glob (`*` = any run of characters), case-sensitive like host names. */
export function compileHostPattern(pattern: string): RegExp {
  const re = pattern.split('*').map((p) => p.replace(/[\\^$.|?*+()[\]{}/-]/g, '\\$&')).join('.*');
  return new RegExp(`^${re}$`);
}

interface CompiledRule {
  hosts: RegExp[];
  cmd: CommandPattern[];
  ps: CommandPattern[];
}

// The config store hands out the same object until the record changes: compile once per object.
const compiled = new WeakMap<WinrmAcl, CompiledRule[]>();

function rulesOf(acl: WinrmAcl): CompiledRule[] {
  let rules = compiled.get(acl);
  if (!rules) {
    rules = acl.rules.map((r) => ({
      hosts: r.hosts.map(compileHostPattern),
      cmd: (r.cmd ?? []).map((p) => compileCommandPattern(p, 'cmd')),
      ps: (r.ps ?? []).map((p) => compileCommandPattern(p, 'ps')),
    }));
    compiled.set(acl, rules);
  }
  return rules;
}

/** Whether `acl` allows running `data` as `type` on `host`. No ACL: no. */
export function aclAllows(acl: WinrmAcl | undefined, host: string, type: WinrmCommandType, data: string): boolean {
  if (!acl || !Array.isArray(acl.rules)) return false;
  return rulesOf(acl).some((r) => r.hosts.some((h) => h.test(host)) && r[type].some((p) => p.test(data)));
}

/** The config-store key of `principal`'s ACL. */
export function aclKey(principal: string): string {
  return `${WINRM_ACL_PREFIX}${principal}`;
}

/**
 * Whether `principal` may run `data` as `type` on `host`, read from the config store at the time of the
 * run (an ACL or role change applies to the next job): the `admin` role may run anything; others need a
 * matching rule in `winrm.acl.<principal>`. `anonymous` with no user record is the auth-off gateway's
 * principal, which is an admin there (security/acl.ts `anonymousPrincipal`).
 */
export function mayRun(config: ConfigStore, principal: string, host: string, type: WinrmCommandType, data: string): boolean {
  const user = config.get<{ roles?: unknown }>(userKey(principal));
  if (user && Array.isArray(user.roles) && user.roles.includes(ADMIN_ROLE)) return true;
  if (!user && principal === 'anonymous') return true;
  return aclAllows(config.get<WinrmAcl>(aclKey(principal)), host, type, data);
}
