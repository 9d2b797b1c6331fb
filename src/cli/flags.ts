// The one command-line layer of `podlb` and `kubectl podlb`: a command tree with typed flags
// (each with its default and a one-line description) drives parsing, `--help`, the one-line
// usage errors (exit 2) and shell completion (completion.ts), so every command behaves alike.
//
// Why not a library: node:util parseArgs has no help, no suggestions and English-only errors
// we would have to re-parse; commander would give help and suggestions but not kubectl's
// conventions (kubectl-style help layout, one-line `error: …; See '… --help'.`, exit 2 for
// usage and 1 for runtime errors, flags before or after the command, `-ojson`), nor the
// `__complete` protocol kubectl 1.26+ uses for plugins, so we would bend it more than this
// ~300-line file. The same table also serves the agent's and the controller's flags.

export type FlagType = 'string' | 'boolean' | 'strings';

export interface Flag {
  name: string;
  short?: string;
  type: FlagType;
  /** Applied when the flag is absent (booleans default to false). */
  default?: string | boolean;
  /** Shown instead of the default in help, e.g. `$NODE_NAME` for an environment fallback. */
  defaultText?: string;
  /** Placeholder in help: `--node-name NAME`. */
  arg?: string;
  description: string;
  /** Accepted values: checked, listed in help and offered by completion. */
  choices?: readonly string[];
  /** A problem with the value ("is not a port (0-65535)"), or undefined when it is fine. */
  check?: (value: string) => string | undefined;
  /** Completion offers file names for this flag's value. */
  file?: boolean;
}

export interface Command {
  /** Full command path as typed, e.g. `podlb render bird`, `kubectl podlb pools`. */
  path: string;
  summary: string;
  /** Synopsis after the path, e.g. `--node-name NAME [flags]`. */
  usage?: string;
  flags?: readonly Flag[];
  /** Positional arguments: how many, and their name in errors. */
  args?: { min: number; max: number; name: string };
  examples?: readonly string[];
  subcommands?: readonly Command[];
  /** Not listed in help or completion (`__complete`). */
  hidden?: boolean;
}

/** Bad input on the command line: one line on stderr, exit 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
  }
}

export function usageErrorLine(err: UsageError): string {
  const msg = /[.?!]$/.test(err.message) ? err.message : `${err.message}.`;
  return `error: ${msg} See '${err.command} --help'.\n`;
}

export const HELP_FLAG: Flag = { name: 'help', short: 'h', type: 'boolean', description: 'print this help and exit' };

export function commandName(cmd: Command): string {
  return cmd.path.slice(cmd.path.lastIndexOf(' ') + 1);
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidate: within a third of the word's length (at least 2), or one that contains it or is contained. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (!best || d < best.d) best = { c, d };
  }
  if (best && best.d <= Math.max(2, Math.floor(word.length / 3))) return best.c;
  const squash = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  return candidates.find((c) => word.length >= 3 && (squash(c).startsWith(squash(word)) || squash(word).startsWith(squash(c))));
}

export interface Parsed {
  /** Flag values by long name, defaults applied; a `strings` flag is a list. */
  values: Map<string, string | boolean | string[]>;
  positionals: string[];
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function bool(p: Parsed, name: string): boolean {
  return p.values.get(name) === true;
}

export function list(p: Parsed, name: string): string[] {
  const v = p.values.get(name);
  return Array.isArray(v) ? v : [];
}

const BOOL_TEXT: Record<string, boolean> = { true: true, false: false, '1': true, '0': false };

/** True for a token that is a flag (and so is not the value of the flag before it). */
function looksLikeFlag(token: string): boolean {
  return token.length > 1 && token.startsWith('-') && !/^-\d/.test(token);
}

function displayName(f: Flag): string {
  return `--${f.name}`;
}

/**
 * Parses `argv` against `flags` (kubectl's pflag conventions: `--f v`, `--f=v`, `-f v`, `-fv`,
 * `--bool=false`, flags before and after positionals, `--` ends flags). Throws UsageError.
 */
export function parseFlags(cmd: Command, flags: readonly Flag[], argv: readonly string[]): Parsed {
  const byLong = new Map(flags.map((f) => [f.name, f]));
  const byShort = new Map(flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const values = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  const bad = (message: string): never => {
    throw new UsageError(message, cmd.path);
  };
  const set = (f: Flag, raw: string | undefined, shown: string, i: number): number => {
    if (f.type === 'boolean') {
      if (raw === undefined) values.set(f.name, true);
      else if (raw in BOOL_TEXT) values.set(f.name, BOOL_TEXT[raw]!);
      else bad(`${shown}: ${JSON.stringify(raw)} is not true or false`);
      return i;
    }
    let value = raw;
    let next = i;
    if (value === undefined) {
      const following = argv[i + 1];
      if (following === undefined || looksLikeFlag(following))
        bad(
          `flag ${shown} needs a value, e.g. ${shown} ${f.choices ? f.choices[0] : (f.arg ?? 'VALUE')}${f.choices ? ` (one of ${f.choices.join(', ')})` : ''}`,
        );
      value = following!;
      next = i + 1;
    }
    if (f.choices && !f.choices.includes(value)) bad(`${shown}: ${JSON.stringify(value)} is not one of ${f.choices.join(', ')}`);
    const problem = f.check?.(value);
    if (problem) bad(`${shown}: ${JSON.stringify(value)} ${problem}`);
    if (f.type === 'strings') values.set(f.name, [...((values.get(f.name) as string[] | undefined) ?? []), value]);
    else values.set(f.name, value);
    return next;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const f = byLong.get(name);
      if (!f) {
        const near = suggest(name, [...byLong.keys()]);
        bad(`unknown flag --${name} for "${cmd.path}"${near ? `; did you mean --${near}?` : ''}`);
      }
      i = set(f!, eq < 0 ? undefined : a.slice(eq + 1), displayName(f!), i);
    } else if (looksLikeFlag(a)) {
      const f = byShort.get(a[1]!);
      if (!f) {
        const near = [...byLong.keys()].find((n) => n.startsWith(a.slice(1)));
        bad(`unknown shorthand flag -${a[1]} in ${a} for "${cmd.path}"${near ? `; did you mean --${near}?` : ''}`);
      }
      const rest = a.slice(2).replace(/^=/, '');
      if (f!.type === 'boolean' && rest !== '') bad(`-${f!.short} takes no value (in ${a})`);
      i = set(f!, rest === '' ? undefined : rest, `-${f!.short}`, i);
    } else positionals.push(a);
  }
  for (const f of flags) {
    if (!values.has(f.name)) {
      if (f.type === 'boolean') values.set(f.name, f.default === true);
      else if (f.type === 'strings') values.set(f.name, []);
      else if (typeof f.default === 'string') values.set(f.name, f.default);
    }
  }
  const args = cmd.args ?? { min: 0, max: 0, name: '' };
  if (positionals.length > args.max) {
    bad(
      args.max === 0
        ? `"${cmd.path}" takes no positional arguments, got ${JSON.stringify(positionals[0])}`
        : `"${cmd.path}" takes ${args.name}, got ${positionals.length} arguments: ${positionals.map((p) => JSON.stringify(p)).join(' ')}`,
    );
  }
  if (positionals.length < args.min) bad(`"${cmd.path}" needs ${args.name}`);
  return { values, positionals };
}

/** True when argv asks for help (`-h`/`--help` before `--`), whatever else it holds. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h' || a === '--help=true') return true;
  }
  return false;
}

/**
 * Splits argv into the command it names (walking subcommands by their first non-flag words)
 * and the rest. `valueFlags` are flags that take a value, so that `--context x pools` finds
 * `pools`, not `x`. Unknown command words throw UsageError with a suggestion.
 */
export function resolveCommand(root: Command, argv: readonly string[], valueFlags: readonly Flag[]): { cmd: Command; rest: string[] } {
  const takesValue = new Set(valueFlags.filter((f) => f.type !== 'boolean').flatMap((f) => [`--${f.name}`, ...(f.short ? [`-${f.short}`] : [])]));
  let cmd = root;
  const rest = [...argv];
  for (let i = 0; i < rest.length && cmd.subcommands?.length; i++) {
    const a = rest[i]!;
    if (a === '--') break;
    if (looksLikeFlag(a)) {
      if (takesValue.has(a)) i++;
      continue;
    }
    const sub = cmd.subcommands.find((s) => commandName(s) === a);
    if (!sub) {
      const near = suggest(a, cmd.subcommands.filter((s) => !s.hidden).map(commandName));
      throw new UsageError(`unknown command ${JSON.stringify(a)} for "${cmd.path}"${near ? `; did you mean "${near}"?` : ''}`, cmd.path);
    }
    rest.splice(i, 1);
    i--;
    cmd = sub;
  }
  return { cmd, rest };
}

function flagDefault(f: Flag): string {
  if (f.defaultText !== undefined) return f.defaultText;
  if (f.type === 'boolean') return String(f.default === true);
  if (f.type === 'strings') return 'none';
  return typeof f.default === 'string' ? JSON.stringify(f.default) : 'none';
}

function flagRows(flags: readonly Flag[]): string[] {
  const left = flags.map((f) => `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.type === 'boolean' ? '' : ` ${f.arg ?? 'VALUE'}`}`);
  const width = Math.max(...left.map((l) => l.length));
  return flags.map((f, i) => {
    const choices = f.choices ? ` (one of ${f.choices.join('|')})` : '';
    return `  ${left[i]!.padEnd(width)}   ${f.description}${choices} (default ${flagDefault(f)})${f.type === 'strings' ? ' [repeatable]' : ''}`;
  });
}

/** kubectl-style help: summary, usage, commands, examples, flags, global flags. */
export function renderHelp(cmd: Command, globalFlags: readonly Flag[] = []): string {
  const out = [`${cmd.summary}`, '', 'Usage:', `  ${cmd.path}${cmd.usage ? ` ${cmd.usage}` : cmd.subcommands?.length ? ' COMMAND [flags]' : ' [flags]'}`];
  const subs = (cmd.subcommands ?? []).filter((s) => !s.hidden);
  if (subs.length) {
    const w = Math.max(...subs.map((s) => commandName(s).length));
    out.push('', 'Commands:', ...subs.map((s) => `  ${commandName(s).padEnd(w)}   ${s.summary}`));
  }
  if (cmd.examples?.length) out.push('', 'Examples:', ...cmd.examples.map((e) => `  ${e}`));
  out.push('', 'Flags:', ...flagRows([...(cmd.flags ?? []), HELP_FLAG]));
  if (globalFlags.length) out.push('', 'Global flags (before or after the command):', ...flagRows(globalFlags));
  if (subs.length) out.push('', `Use "${cmd.path} COMMAND --help" for more about a command.`);
  return `${out.join('\n')}\n`;
}

/** Finds a command by its words below `root` (for `help COMMAND`), or undefined. */
export function findCommand(root: Command, words: readonly string[]): Command | undefined {
  let cmd: Command | undefined = root;
  for (const w of words) cmd = cmd?.subcommands?.find((s) => commandName(s) === w);
  return cmd;
}

// Value checks shared by the commands.

export function checkPort(value: string): string | undefined {
  return /^\d{1,5}$/.test(value) && Number(value) <= 65535 ? undefined : 'is not a port (0-65535)';
}

export function checkPositiveInt(value: string): string | undefined {
  return /^\d+$/.test(value) && Number(value) > 0 ? undefined : 'is not a positive whole number';
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * kubectl's --request-timeout: a whole number of seconds, or a Go duration (`5s`, `1m30s`,
 * `500ms`); 0 means no timeout. Milliseconds, or undefined when it is neither.
 */
export function parseRequestTimeout(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * GO_UNITS[m[2]!]!;
  return total;
}

export function checkRequestTimeout(value: string): string | undefined {
  return parseRequestTimeout(value) === undefined ? 'is not a timeout: a whole number of seconds or a duration like 5s, 1m, 500ms (0: no timeout)' : undefined;
}
