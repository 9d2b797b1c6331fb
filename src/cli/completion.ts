// Shell completion for both CLIs from their command trees (flags.ts). The shell scripts are thin:
// they call the CLI's hidden `__complete` command with the words typed so far, which answers in
// cobra's protocol (one candidate per line, then `:DIRECTIVE`), the protocol kubectl 1.26+ also
// speaks with a plugin's `kubectl_complete-<plugin>` executable. So one engine serves `podlb`,
// `kubectl-podlb` and `kubectl podlb`.
import { type Command, type Flag, HELP_FLAG, commandName } from './flags.js';

/** cobra's ShellCompDirective values we use. */
export const DIRECTIVE_DEFAULT = 0; // the shell may fall back to file names
export const DIRECTIVE_NO_FILES = 4;

export interface Completion {
  candidates: string[];
  directive: number;
}

/**
 * Candidates for `current`, the word being typed, after `words` (the words typed after the
 * program name). `globalFlags` are accepted by every command (kubectl's).
 */
export function complete(root: Command, words: readonly string[], current: string, globalFlags: readonly Flag[] = []): Completion {
  let cmd = root;
  let pending: Flag | undefined;
  const flagsOf = (c: Command): Flag[] => [...(c.flags ?? []), ...globalFlags, HELP_FLAG];
  for (const w of words) {
    // bash splits `--output=y` at '=' (COMP_WORDBREAKS): the value is still to come.
    if (w === '=') continue;
    if (pending) {
      pending = undefined;
      continue;
    }
    if (w.startsWith('-')) {
      const flags = flagsOf(cmd);
      const f = w.startsWith('--') ? flags.find((x) => `--${x.name}` === w) : flags.find((x) => x.short && `-${x.short}` === w);
      if (f && f.type !== 'boolean') pending = f;
      continue;
    }
    const sub = cmd.subcommands?.find((s) => commandName(s) === w);
    if (sub) cmd = sub;
  }
  if (pending) {
    if (pending.choices) return { candidates: pending.choices.filter((c) => c.startsWith(current)), directive: DIRECTIVE_NO_FILES };
    return { candidates: [], directive: pending.file ? DIRECTIVE_DEFAULT : DIRECTIVE_NO_FILES };
  }
  if (current.startsWith('-')) {
    const eq = current.indexOf('=');
    if (eq > 0) {
      const f = flagsOf(cmd).find((x) => `--${x.name}` === current.slice(0, eq));
      return {
        candidates: (f?.choices ?? []).map((c) => `${current.slice(0, eq)}=${c}`).filter((c) => c.startsWith(current)),
        directive: f?.file ? DIRECTIVE_DEFAULT : DIRECTIVE_NO_FILES,
      };
    }
    return {
      candidates: flagsOf(cmd)
        .map((f) => `--${f.name}`)
        .filter((n) => n.startsWith(current)),
      directive: DIRECTIVE_NO_FILES,
    };
  }
  const subs = (cmd.subcommands ?? []).filter((s) => !s.hidden).map(commandName);
  return { candidates: subs.filter((s) => s.startsWith(current)), directive: DIRECTIVE_NO_FILES };
}

export function renderCompletion(c: Completion): string {
  return `${c.candidates.map((x) => `${x}\n`).join('')}:${c.directive}\n`;
}

function fnName(program: string): string {
  return `_${program.replace(/[^A-Za-z0-9]/g, '_')}_complete`;
}

/** A bash script completing `program` through `program __complete`. */
export function bashScript(program: string): string {
  const fn = fnName(program);
  return `# bash completion for ${program}; load with: source <(${program} completion bash)
${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} out directive
  out=$("\${COMP_WORDS[0]}" __complete "\${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null) || return
  directive=\${out##*:}
  out=\${out%:*}
  COMPREPLY=()
  local IFS=$'\\n' line
  for line in $out; do [[ -n $line ]] && COMPREPLY+=("$line"); done
  if (( \${#COMPREPLY[@]} == 0 )) && (( (directive & ${DIRECTIVE_NO_FILES}) == 0 )); then
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F ${fn} ${program}
`;
}

/** A zsh script completing `program` through `program __complete`. */
export function zshScript(program: string): string {
  const fn = fnName(program);
  return `#compdef ${program}
# zsh completion for ${program}; load with: source <(${program} completion zsh)
${fn}() {
  local -a lines candidates
  local directive
  lines=("\${(@f)$(\${words[1]} __complete "\${(@)words[2,CURRENT-1]}" "\${words[CURRENT]}" 2>/dev/null)}")
  directive=\${lines[-1]#:}
  candidates=("\${(@)lines[1,-2]}")
  if (( \${#candidates} )); then
    compadd -- "\${(@)candidates}"
  elif (( (directive & ${DIRECTIVE_NO_FILES}) == 0 )); then
    _files
  fi
}
compdef ${fn} ${program}
`;
}
