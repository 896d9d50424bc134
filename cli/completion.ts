/**
 * Generates the bash and zsh completion scripts from the command specs (docs/completion.md). The
 * script is data (one `case` per command path) plus one fixed function: it completes sub-commands,
 * options, paths (compgen -f/-d), fixed words and names of a running system without starting node —
 * names come from the cache files cli/names-cache.ts writes, refreshed in the background when stale.
 * The output depends on the specs only (no paths, no environment): completion/ holds a copy of it.
 */
import type { CommandSpec, Completion } from './command-spec.js';
import { NAMES_RETRY_S, NAMES_TTL_S } from './names-cache.js';

/** The shells `switchboard completion` writes a script for. */
export const SHELLS = ['bash', 'zsh'] as const;
/** A shell `switchboard completion` writes a script for. */
export type Shell = (typeof SHELLS)[number];

/** What the script knows of one command path. */
interface Node {
  /** Space-separated path from the top (`''` is the top level). */
  key: string;
  subs: string[];
  /** Long options, for `--<Tab>`. */
  options: string[];
  /** Option (long and short) → how to complete its value; boolean options are absent. */
  values: Array<[string, string]>;
  /** Positional index → how to complete it. */
  args: string[];
  /** Index of the variadic argument, or -1. */
  variadic: number;
}

/** A completion as the script spells it: '' (nothing), file, dir, names:KIND, words:W1 W2… */
function encode(c: Completion | undefined): string {
  if (c === undefined || c === 'none') return '';
  if (c === 'file' || c === 'dir') return c;
  if ('names' in c) return `names:${c.names}`;
  return `words:${c.words.join(' ')}`;
}

function collect(specs: readonly CommandSpec[], prefix: string[], into: Node[]): void {
  for (const s of specs) {
    if (s.hidden) continue;
    const path = [...prefix, s.name];
    const options = s.options ?? [];
    const values: Array<[string, string]> = [];
    for (const o of options) {
      if (o.type !== 'string') continue;
      // A string option always takes a value, even one we cannot complete (its "none" keeps it skipped).
      const how = encode(o.complete) || 'none';
      values.push([`--${o.name}`, how]);
      if (o.short) values.push([`-${o.short}`, how]);
    }
    const args = s.args ?? [];
    into.push({
      key: path.join(' '),
      subs: (s.subcommands ?? []).filter((c) => !c.hidden).map((c) => c.name),
      options: [...options.map((o) => `--${o.name}`), '--help'],
      values,
      args: args.map((a) => encode(a.complete)),
      variadic: args.findIndex((a) => a.variadic),
    });
    if (s.subcommands) collect(s.subcommands, path, into);
  }
}

/** Single-quoted for the shell. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function nodeCases(nodes: readonly Node[], top: string[]): string {
  const lines = [`    '') _sb_subs=${q([...top, 'help'].join(' '))}; _sb_opts='--help'; _sb_vmax=-1 ;;`];
  for (const n of nodes) lines.push(`    ${q(n.key)}) _sb_subs=${q(n.subs.join(' '))}; _sb_opts=${q(n.options.join(' '))}; _sb_vmax=${n.variadic} ;;`);
  return lines.join('\n');
}

function valueCases(nodes: readonly Node[]): string {
  return nodes.flatMap((n) => n.values.map(([opt, how]) => `    ${q(`${n.key}:${opt}`)}) _sb_c=${q(how)} ;;`)).join('\n');
}

function argCases(nodes: readonly Node[]): string {
  return nodes.flatMap((n) => n.args.map((how, i) => (how ? `    ${q(`${n.key}:${i}`)}) _sb_c=${q(how)} ;;` : ''))).filter(Boolean).join('\n');
}

/** The completion function and its tables; `fn` is the name `complete -F` calls. */
function body(commands: readonly CommandSpec[], fn: string): string {
  const nodes: Node[] = [];
  collect(commands, [], nodes);
  const top = commands.filter((c) => !c.hidden).map((c) => c.name);
  return `# Generated from the command specs by "switchboard completion" (cli/completion.ts); do not edit.

# The command path $1 ('' = top level): sub-commands, long options, index of a variadic argument.
_switchboard_node() {
  case $1 in
${nodeCases(nodes, top)}
    *) _sb_subs=''; _sb_opts=''; _sb_vmax=-1 ;;
  esac
}

# How to complete the value of option $2 of path $1; empty: the option takes no value.
_switchboard_value() {
  case "$1:$2" in
${valueCases(nodes)}
    *) _sb_c='' ;;
  esac
}

# How to complete positional argument $2 (from 0) of path $1.
_switchboard_arg() {
  case "$1:$2" in
${argCases(nodes)}
    *) _sb_c='' ;;
  esac
}

# Names of kind $1 starting with $2, from the cache the switchboard command writes; a missing or stale
# cache starts "switchboard __names refresh KIND" in the background and Tab answers with what there is.
_switchboard_names() {
  local LC_ALL=C url=\${SB_URL:-http://127.0.0.1:8080} user dir now stamp=0 tried=0 line
  while [[ $url == */ ]]; do url=\${url%/}; done
  if [[ -n $SB_API_KEY ]]; then user=apikey
  elif [[ -n $SB_PASSWORD ]]; then user=\${SB_USER:-admin}
  else user=anonymous
  fi
  dir="$user@$url"
  dir=\${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/\${dir//[^A-Za-z0-9._@-]/_}
  now=\${EPOCHSECONDS:-}
  [[ -n $now ]] || printf -v now '%(%s)T' -1
  [[ -r $dir/.$1.stamp ]] && read -r stamp < "$dir/.$1.stamp"
  # Digits only before (( )): arithmetic would evaluate whatever else a file held.
  [[ $stamp =~ ^[0-9]+$ ]] || stamp=0
  if (( now - stamp >= ${NAMES_TTL_S} )); then
    [[ -r $dir/.$1.tried ]] && read -r tried < "$dir/.$1.tried"
    [[ $tried =~ ^[0-9]+$ ]] || tried=0
    if (( now - tried >= ${NAMES_RETRY_S} )); then
      [[ -d $dir ]] || mkdir -p -m 700 "$dir" 2>/dev/null
      printf '%s\\n' "$now" 2>/dev/null > "$dir/.$1.tried"
      ( "\${COMP_WORDS[0]}" __names refresh "$1" </dev/null >/dev/null 2>&1 & )
    fi
  fi
  [[ -r $dir/$1 ]] || return 0
  while IFS= read -r line; do
    [[ $line == "$2"* ]] && COMPREPLY+=("$line")
  done < "$dir/$1"
}

# Fills COMPREPLY for the word $2 completed as $1 (see _switchboard_value).
_switchboard_complete() {
  local IFS=$' \\t\\n'
  case $1 in
    file|dir)
      compopt -o filenames 2>/dev/null
      # One path per line: names with spaces stay whole.
      IFS=$'\\n'
      if [[ $1 == dir ]]; then COMPREPLY=( $(compgen -d -- "$2") ); else COMPREPLY=( $(compgen -f -- "$2") ); fi ;;
    words:*) COMPREPLY=( $(compgen -W "\${1#words:}" -- "$2") ) ;;
    names:*) _switchboard_names "\${1#names:}" "$2" ;;
  esac
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} path='' w i=1 npos=0 want='' helponly='' how='' pre=''
  local _sb_subs _sb_opts _sb_vmax _sb_c
  COMPREPLY=()
  # "switchboard help sql conn": complete command paths only.
  if [[ \${COMP_WORDS[1]} == help ]] && (( COMP_CWORD > 1 )); then helponly=1; i=2; fi
  for (( ; i < COMP_CWORD; i++ )); do
    w=\${COMP_WORDS[i]}
    # "--opt=value" split at "=" by COMP_WORDBREAKS: the "=" belongs to the option before it.
    [[ $w == = ]] && continue
    if [[ -n $want ]]; then want=''; continue; fi
    if [[ $w == -* ]]; then
      _switchboard_value "$path" "\${w%%=*}"
      [[ -n $_sb_c && $w != *=* ]] && want=1
      continue
    fi
    _switchboard_node "$path"
    if (( npos == 0 )) && [[ " $_sb_subs " == *" $w "* ]]; then path=\${path:+$path }$w; continue; fi
    npos=$((npos + 1))
  done
  [[ $cur == = ]] && { cur=''; want=1; }
  if [[ -n $want ]]; then
    [[ $prev == = ]] && prev=\${COMP_WORDS[COMP_CWORD-2]}
    _switchboard_value "$path" "$prev"; how=$_sb_c
  elif [[ $cur == --*=* && -z $helponly ]]; then
    # "--opt=value" as one word (no "=" in COMP_WORDBREAKS): complete the value, keep the prefix.
    _switchboard_value "$path" "\${cur%%=*}"; how=$_sb_c; pre=\${cur%%=*}=; cur=\${cur#*=}
  elif [[ $cur == -* ]]; then
    [[ -n $helponly ]] && return 0
    _switchboard_node "$path"; how="words:$_sb_opts"
  else
    _switchboard_node "$path"
    if (( npos == 0 )) && [[ -n $_sb_subs ]]; then how="words:$_sb_subs"
    elif [[ -z $helponly ]]; then
      i=$npos
      (( _sb_vmax >= 0 && i > _sb_vmax )) && i=$_sb_vmax
      _switchboard_arg "$path" "$i"; how=$_sb_c
    fi
  fi
  _switchboard_complete "$how" "$cur"
  if [[ -n $pre ]]; then
    for (( i = 0; i < \${#COMPREPLY[@]}; i++ )); do COMPREPLY[i]=$pre\${COMPREPLY[i]}; done
  fi
  return 0
}
`;
}

/** The completion script for `shell`, generated from `commands`. */
export function completionScript(commands: readonly CommandSpec[], shell: Shell): string {
  if (shell === 'bash') {
    return `# bash completion for switchboard (docs/completion.md):
#   source <(switchboard completion bash)      or copy to /etc/bash_completion.d/switchboard
${body(commands, '_switchboard')}
complete -F _switchboard switchboard
`;
  }
  // zsh: the bash function through bashcompinit (the cheap route; docs/completion.md). The function is
  // _switchboard_bash so that this file, autoloaded from $fpath as _switchboard, does not replace itself.
  return `#compdef switchboard
# zsh completion for switchboard (docs/completion.md): the bash completion run through bashcompinit.
#   source <(switchboard completion zsh)   after compinit, or copy to a directory in $fpath as _switchboard
autoload -U +X bashcompinit && bashcompinit
zmodload -F zsh/datetime p:EPOCHSECONDS 2>/dev/null
${body(commands, '_switchboard_bash')}
complete -F _switchboard_bash switchboard
# Autoloaded by compinit for this Tab: complete it too (later ones go to _switchboard_bash directly).
[[ \${funcstack[1]:-} == _switchboard ]] && _bash_complete -F _switchboard_bash
return 0
`;
}
