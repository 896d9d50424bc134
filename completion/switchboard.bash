# bash completion for switchboard (docs/completion.md):
#   source <(switchboard completion bash)      or copy to /etc/bash_completion.d/switchboard
# Generated from the command specs by "switchboard completion" (cli/completion.ts); do not edit.

# The command path $1 ('' = top level): sub-commands, long options, index of a variadic argument.
_switchboard_node() {
  case $1 in
    '') _sb_subs='dev worker pub sub job sql ws create start stop restart status gateway topics subscriptions jobs broadcast users connections config completion help'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'dev') _sb_subs=''; _sb_opts='--help'; _sb_vmax=-1 ;;
    'worker') _sb_subs=''; _sb_opts='--config --help'; _sb_vmax=-1 ;;
    'pub') _sb_subs=''; _sb_opts='--content-type --key --help'; _sb_vmax=-1 ;;
    'sub') _sb_subs=''; _sb_opts='--max --wait --count --help'; _sb_vmax=-1 ;;
    'job') _sb_subs=''; _sb_opts='--async --stream --timeout --help'; _sb_vmax=-1 ;;
    'sql') _sb_subs='conn call'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'sql conn') _sb_subs='create list get delete password'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'sql conn create') _sb_subs=''; _sb_opts='--kind --host --port --database --user --pool --help'; _sb_vmax=-1 ;;
    'sql conn list') _sb_subs=''; _sb_opts='--help'; _sb_vmax=-1 ;;
    'sql conn get') _sb_subs=''; _sb_opts='--help'; _sb_vmax=-1 ;;
    'sql conn delete') _sb_subs=''; _sb_opts='--help'; _sb_vmax=-1 ;;
    'sql conn password') _sb_subs=''; _sb_opts='--help'; _sb_vmax=-1 ;;
    'sql call') _sb_subs=''; _sb_opts='--stream --chunk-rows --routine --help'; _sb_vmax=-1 ;;
    'ws') _sb_subs='broadcast presence channels'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'ws broadcast') _sb_subs=''; _sb_opts='--content-type --help'; _sb_vmax=-1 ;;
    'ws presence') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'ws channels') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'create') _sb_subs=''; _sb_opts='--force --help'; _sb_vmax=-1 ;;
    'start') _sb_subs=''; _sb_opts='--fg --timeout --help'; _sb_vmax=-1 ;;
    'stop') _sb_subs=''; _sb_opts='--timeout --help'; _sb_vmax=-1 ;;
    'restart') _sb_subs=''; _sb_opts='--timeout --start-timeout --help'; _sb_vmax=-1 ;;
    'status') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'gateway') _sb_subs=''; _sb_opts='--help'; _sb_vmax=-1 ;;
    'topics') _sb_subs='create list info delete'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'topics create') _sb_subs=''; _sb_opts='--max-age --max-messages --max-bytes --storage --replicas --dedup-window --json --help'; _sb_vmax=-1 ;;
    'topics list') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'topics info') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'topics delete') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'subscriptions') _sb_subs='create list info delete'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'subscriptions create') _sb_subs=''; _sb_opts='--deliver --ack-wait --max-deliver --backoff --dead-letter --json --help'; _sb_vmax=-1 ;;
    'subscriptions list') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'subscriptions info') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'subscriptions delete') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'jobs') _sb_subs='run get cancel workers'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'jobs run') _sb_subs=''; _sb_opts='--input --async --stream --timeout --json --help'; _sb_vmax=-1 ;;
    'jobs get') _sb_subs=''; _sb_opts='--wait --json --help'; _sb_vmax=-1 ;;
    'jobs cancel') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'jobs workers') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'broadcast') _sb_subs=''; _sb_opts='--content-type --json --help'; _sb_vmax=-1 ;;
    'users') _sb_subs='add list info set passwd delete keys'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'users add') _sb_subs=''; _sb_opts='--role --publish --subscribe --jobs --no-password --json --help'; _sb_vmax=-1 ;;
    'users list') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'users info') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'users set') _sb_subs=''; _sb_opts='--role --publish --subscribe --jobs --json --help'; _sb_vmax=-1 ;;
    'users passwd') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'users delete') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'users keys') _sb_subs='create list revoke'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'users keys create') _sb_subs=''; _sb_opts='--label --json --help'; _sb_vmax=-1 ;;
    'users keys list') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'users keys revoke') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'connections') _sb_subs='winrm sql'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'connections winrm') _sb_subs='list get create delete password'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'connections winrm list') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'connections winrm get') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'connections winrm create') _sb_subs=''; _sb_opts='--endpoint --user --auth --domain --encryption --operation-timeout --max-concurrent --max-output --ca --no-verify --servername --json --help'; _sb_vmax=-1 ;;
    'connections winrm delete') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'connections winrm password') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'connections sql') _sb_subs='list get create delete password'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'connections sql list') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'connections sql get') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'connections sql create') _sb_subs=''; _sb_opts='--kind --host --port --database --user --pool --json --help'; _sb_vmax=-1 ;;
    'connections sql delete') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'connections sql password') _sb_subs=''; _sb_opts='--json --help'; _sb_vmax=-1 ;;
    'config') _sb_subs='export import check diff'; _sb_opts='--help'; _sb_vmax=-1 ;;
    'config export') _sb_subs=''; _sb_opts='--secrets --key-file --help'; _sb_vmax=-1 ;;
    'config import') _sb_subs=''; _sb_opts='--prune --dry-run --key-file --json --help'; _sb_vmax=-1 ;;
    'config check') _sb_subs=''; _sb_opts='--help'; _sb_vmax=-1 ;;
    'config diff') _sb_subs=''; _sb_opts='--prune --key-file --json --help'; _sb_vmax=-1 ;;
    'completion') _sb_subs=''; _sb_opts='--help'; _sb_vmax=-1 ;;
    *) _sb_subs=''; _sb_opts=''; _sb_vmax=-1 ;;
  esac
}

# How to complete the value of option $2 of path $1; empty: the option takes no value.
_switchboard_value() {
  case "$1:$2" in
    'worker:--config') _sb_c='file' ;;
    'worker:-c') _sb_c='file' ;;
    'pub:--content-type') _sb_c='words:application/json application/octet-stream text/plain' ;;
    'pub:--key') _sb_c='none' ;;
    'sub:--max') _sb_c='none' ;;
    'sub:--wait') _sb_c='none' ;;
    'sub:--count') _sb_c='none' ;;
    'job:--timeout') _sb_c='none' ;;
    'sql conn create:--kind') _sb_c='words:mssql postgres mariadb' ;;
    'sql conn create:--host') _sb_c='none' ;;
    'sql conn create:--port') _sb_c='none' ;;
    'sql conn create:--database') _sb_c='none' ;;
    'sql conn create:--user') _sb_c='none' ;;
    'sql conn create:--pool') _sb_c='none' ;;
    'sql call:--chunk-rows') _sb_c='none' ;;
    'sql call:--routine') _sb_c='words:auto function procedure' ;;
    'ws broadcast:--content-type') _sb_c='none' ;;
    'start:--timeout') _sb_c='none' ;;
    'stop:--timeout') _sb_c='none' ;;
    'restart:--timeout') _sb_c='none' ;;
    'restart:--start-timeout') _sb_c='none' ;;
    'topics create:--max-age') _sb_c='none' ;;
    'topics create:--max-messages') _sb_c='none' ;;
    'topics create:--max-bytes') _sb_c='none' ;;
    'topics create:--storage') _sb_c='words:file memory' ;;
    'topics create:--replicas') _sb_c='none' ;;
    'topics create:--dedup-window') _sb_c='none' ;;
    'subscriptions create:--deliver') _sb_c='words:new all' ;;
    'subscriptions create:--ack-wait') _sb_c='none' ;;
    'subscriptions create:--max-deliver') _sb_c='none' ;;
    'subscriptions create:--backoff') _sb_c='none' ;;
    'subscriptions create:--dead-letter') _sb_c='names:topics' ;;
    'jobs run:--input') _sb_c='words:-' ;;
    'jobs run:--timeout') _sb_c='none' ;;
    'jobs get:--wait') _sb_c='none' ;;
    'broadcast:--content-type') _sb_c='none' ;;
    'users add:--role') _sb_c='none' ;;
    'users add:--publish') _sb_c='names:topics' ;;
    'users add:--subscribe') _sb_c='names:topics' ;;
    'users add:--jobs') _sb_c='names:job-types' ;;
    'users set:--role') _sb_c='none' ;;
    'users set:--publish') _sb_c='names:topics' ;;
    'users set:--subscribe') _sb_c='names:topics' ;;
    'users set:--jobs') _sb_c='names:job-types' ;;
    'users keys create:--label') _sb_c='none' ;;
    'connections winrm create:--endpoint') _sb_c='none' ;;
    'connections winrm create:--user') _sb_c='none' ;;
    'connections winrm create:--auth') _sb_c='words:basic ntlm' ;;
    'connections winrm create:--domain') _sb_c='none' ;;
    'connections winrm create:--encryption') _sb_c='words:auto always never' ;;
    'connections winrm create:--operation-timeout') _sb_c='none' ;;
    'connections winrm create:--max-concurrent') _sb_c='none' ;;
    'connections winrm create:--max-output') _sb_c='none' ;;
    'connections winrm create:--ca') _sb_c='file' ;;
    'connections winrm create:--servername') _sb_c='none' ;;
    'connections sql create:--kind') _sb_c='words:postgres mysql mariadb mssql' ;;
    'connections sql create:--host') _sb_c='none' ;;
    'connections sql create:--port') _sb_c='none' ;;
    'connections sql create:--database') _sb_c='none' ;;
    'connections sql create:--user') _sb_c='none' ;;
    'connections sql create:--pool') _sb_c='none' ;;
    'config export:--secrets') _sb_c='words:omit encrypt' ;;
    'config export:--key-file') _sb_c='file' ;;
    'config import:--key-file') _sb_c='file' ;;
    'config diff:--key-file') _sb_c='file' ;;
    *) _sb_c='' ;;
  esac
}

# How to complete positional argument $2 (from 0) of path $1.
_switchboard_arg() {
  case "$1:$2" in
    'pub:0') _sb_c='names:topics' ;;
    'sub:0') _sb_c='names:subscriptions' ;;
    'job:0') _sb_c='names:job-types' ;;
    'sql conn get:0') _sb_c='names:sql-connections' ;;
    'sql conn delete:0') _sb_c='names:sql-connections' ;;
    'sql conn password:0') _sb_c='names:sql-connections' ;;
    'sql call:0') _sb_c='names:sql-connections' ;;
    'ws broadcast:0') _sb_c='names:ws-channels' ;;
    'ws presence:0') _sb_c='names:ws-channels' ;;
    'create:0') _sb_c='words:gateway worker dev' ;;
    'create:1') _sb_c='dir' ;;
    'start:0') _sb_c='dir' ;;
    'stop:0') _sb_c='dir' ;;
    'restart:0') _sb_c='dir' ;;
    'status:0') _sb_c='dir' ;;
    'topics create:0') _sb_c='names:topics' ;;
    'topics info:0') _sb_c='names:topics' ;;
    'topics delete:0') _sb_c='names:topics' ;;
    'subscriptions create:1') _sb_c='names:topics' ;;
    'subscriptions info:0') _sb_c='names:subscriptions' ;;
    'subscriptions delete:0') _sb_c='names:subscriptions' ;;
    'jobs run:0') _sb_c='names:job-types' ;;
    'broadcast:0') _sb_c='names:ws-channels' ;;
    'users info:0') _sb_c='names:users' ;;
    'users set:0') _sb_c='names:users' ;;
    'users passwd:0') _sb_c='names:users' ;;
    'users delete:0') _sb_c='names:users' ;;
    'users keys create:0') _sb_c='names:users' ;;
    'users keys list:0') _sb_c='names:users' ;;
    'users keys revoke:0') _sb_c='names:users' ;;
    'connections winrm get:0') _sb_c='names:winrm-hosts' ;;
    'connections winrm delete:0') _sb_c='names:winrm-hosts' ;;
    'connections winrm password:0') _sb_c='names:winrm-hosts' ;;
    'connections sql get:0') _sb_c='names:sql-connections' ;;
    'connections sql delete:0') _sb_c='names:sql-connections' ;;
    'connections sql password:0') _sb_c='names:sql-connections' ;;
    'config export:0') _sb_c='file' ;;
    'config import:0') _sb_c='file' ;;
    'config check:0') _sb_c='file' ;;
    'config diff:0') _sb_c='file' ;;
    'completion:0') _sb_c='words:bash zsh' ;;
    *) _sb_c='' ;;
  esac
}

# Names of kind $1 starting with $2, from the cache the switchboard command writes; a missing or stale
# cache starts "switchboard __names refresh KIND" in the background and Tab answers with what there is.
_switchboard_names() {
  local LC_ALL=C url=${SB_URL:-http://127.0.0.1:8080} user dir now stamp=0 tried=0 line
  while [[ $url == */ ]]; do url=${url%/}; done
  if [[ -n $SB_API_KEY ]]; then user=apikey
  elif [[ -n $SB_PASSWORD ]]; then user=${SB_USER:-admin}
  else user=anonymous
  fi
  dir="$user@$url"
  dir=${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/${dir//[^A-Za-z0-9._@-]/_}
  now=${EPOCHSECONDS:-}
  [[ -n $now ]] || printf -v now '%(%s)T' -1
  [[ -r $dir/.$1.stamp ]] && read -r stamp < "$dir/.$1.stamp"
  # Digits only before (( )): arithmetic would evaluate whatever else a file held.
  [[ $stamp =~ ^[0-9]+$ ]] || stamp=0
  if (( now - stamp >= 60 )); then
    [[ -r $dir/.$1.tried ]] && read -r tried < "$dir/.$1.tried"
    [[ $tried =~ ^[0-9]+$ ]] || tried=0
    if (( now - tried >= 10 )); then
      [[ -d $dir ]] || mkdir -p -m 700 "$dir" 2>/dev/null
      printf '%s\n' "$now" 2>/dev/null > "$dir/.$1.tried"
      ( "${COMP_WORDS[0]}" __names refresh "$1" </dev/null >/dev/null 2>&1 & )
    fi
  fi
  [[ -r $dir/$1 ]] || return 0
  while IFS= read -r line; do
    [[ $line == "$2"* ]] && COMPREPLY+=("$line")
  done < "$dir/$1"
}

# Fills COMPREPLY for the word $2 completed as $1 (see _switchboard_value).
_switchboard_complete() {
  local IFS=$' \t\n'
  case $1 in
    file|dir)
      compopt -o filenames 2>/dev/null
      # One path per line: names with spaces stay whole.
      IFS=$'\n'
      if [[ $1 == dir ]]; then COMPREPLY=( $(compgen -d -- "$2") ); else COMPREPLY=( $(compgen -f -- "$2") ); fi ;;
    words:*) COMPREPLY=( $(compgen -W "${1#words:}" -- "$2") ) ;;
    names:*) _switchboard_names "${1#names:}" "$2" ;;
  esac
}

_switchboard() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path='' w i=1 npos=0 want='' helponly='' how='' pre=''
  local _sb_subs _sb_opts _sb_vmax _sb_c
  COMPREPLY=()
  # "switchboard help sql conn": complete command paths only.
  if [[ ${COMP_WORDS[1]} == help ]] && (( COMP_CWORD > 1 )); then helponly=1; i=2; fi
  for (( ; i < COMP_CWORD; i++ )); do
    w=${COMP_WORDS[i]}
    # "--opt=value" split at "=" by COMP_WORDBREAKS: the "=" belongs to the option before it.
    [[ $w == = ]] && continue
    if [[ -n $want ]]; then want=''; continue; fi
    if [[ $w == -* ]]; then
      _switchboard_value "$path" "${w%%=*}"
      [[ -n $_sb_c && $w != *=* ]] && want=1
      continue
    fi
    _switchboard_node "$path"
    if (( npos == 0 )) && [[ " $_sb_subs " == *" $w "* ]]; then path=${path:+$path }$w; continue; fi
    npos=$((npos + 1))
  done
  [[ $cur == = ]] && { cur=''; want=1; }
  if [[ -n $want ]]; then
    [[ $prev == = ]] && prev=${COMP_WORDS[COMP_CWORD-2]}
    _switchboard_value "$path" "$prev"; how=$_sb_c
  elif [[ $cur == --*=* && -z $helponly ]]; then
    # "--opt=value" as one word (no "=" in COMP_WORDBREAKS): complete the value, keep the prefix.
    _switchboard_value "$path" "${cur%%=*}"; how=$_sb_c; pre=${cur%%=*}=; cur=${cur#*=}
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
    for (( i = 0; i < ${#COMPREPLY[@]}; i++ )); do COMPREPLY[i]=$pre${COMPREPLY[i]}; done
  fi
  return 0
}

complete -F _switchboard switchboard
