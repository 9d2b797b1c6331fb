// Runs one CLI from its command tree: help, version, completion and usage errors behave the same
// in `podlb` and `kubectl podlb`; the handlers only see parsed, checked flags.
import { bashScript, complete, renderCompletion, zshScript } from './completion.js';
import {
  type Command,
  type Flag,
  type Parsed,
  HELP_FLAG,
  UsageError,
  findCommand,
  parseFlags,
  renderHelp,
  resolveCommand,
  str,
  usageErrorLine,
  wantsHelp,
} from './flags.js';
import { renderVersion } from '../version.js';

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Returns the exit code. Throwing UsageError exits 2; other errors are the caller's (exit 1). */
export type Handler = (p: Parsed, cmd: Command) => Promise<number> | number;

export const VERSION_OUTPUT: Flag = {
  name: 'output',
  short: 'o',
  type: 'string',
  arg: 'FORMAT',
  choices: ['json', 'yaml'],
  description: 'print the version as an object',
};

/** The commands both CLIs have: version, completion, help (and the hidden __complete). */
export function commonCommands(program: string, completionProgram = program): Command[] {
  const plugin = completionProgram !== program;
  return [
    {
      path: `${program} version`,
      summary: 'Print the version, git commit and build date',
      flags: [VERSION_OUTPUT],
      examples: [`${program} version`, `${program} version -o json`],
    },
    {
      path: `${program} completion`,
      summary: 'Print a shell completion script (bash or zsh)',
      usage: 'bash|zsh',
      args: { min: 1, max: 1, name: 'a shell: bash or zsh' },
      examples: [
        `source <(${program} completion bash)     # in ~/.bashrc${plugin ? `: completes ${completionProgram} ...` : ''}`,
        `source <(${program} completion zsh)      # in ~/.zshrc, after compinit`,
        ...(plugin ? [`# '${program} <TAB>' needs no script: kubectl 1.26+ runs kubectl_complete-podlb (installed with ${completionProgram})`] : []),
      ],
    },
    {
      path: `${program} help`,
      summary: 'Help about any command',
      usage: '[COMMAND]...',
      args: { min: 0, max: 3, name: 'command words' },
      examples: [`${program} help ${program === 'podlb' ? 'agent' : 'pools'}`],
    },
    {
      path: `${program} __complete`,
      summary: 'Completion candidates for the words typed (used by the completion scripts)',
      hidden: true,
      args: { min: 0, max: Infinity, name: 'words' },
    },
  ];
}

export interface CliSpec {
  root: Command;
  /** The name completion scripts are registered for (`podlb`, `kubectl-podlb`). */
  completionProgram: string;
  /** Accepted by every command, before or after it. */
  globalFlags?: readonly Flag[];
  handlers: ReadonlyMap<string, Handler>;
}

export async function dispatch(spec: CliSpec, argv: readonly string[], io: Io): Promise<number> {
  const globals = spec.globalFlags ?? [];
  const program = spec.root.path;
  try {
    // __complete first: the words being completed may hold --help or unknown flags.
    if (argv[0] === '__complete') {
      const words = argv.slice(1, -1);
      io.stdout(renderCompletion(complete(spec.root, words, argv.at(-1) ?? '', globals)));
      return 0;
    }
    if (argv.length === 0) {
      io.stdout(renderHelp(spec.root, globals));
      return 0;
    }
    const { cmd, rest } = resolveCommand(spec.root, argv, globals);
    if (wantsHelp(rest)) {
      io.stdout(renderHelp(cmd, globals));
      return 0;
    }
    if (cmd === spec.root) {
      const p = parseFlags(cmd, [...(cmd.flags ?? []), ...globals, HELP_FLAG], rest);
      if (p.values.get('version') === true) {
        io.stdout(renderVersion(program, undefined));
        return 0;
      }
      io.stdout(renderHelp(spec.root, globals));
      return 0;
    }
    if (cmd.subcommands?.length)
      throw new UsageError(`"${cmd.path}" needs a command: ${cmd.subcommands.map((s) => s.path.slice(cmd.path.length + 1)).join(', ')}`, cmd.path);
    const p = parseFlags(cmd, [...(cmd.flags ?? []), ...globals, HELP_FLAG], rest);
    switch (cmd.path) {
      case `${program} version`:
        io.stdout(renderVersion(program, str(p, 'output')));
        return 0;
      case `${program} completion`: {
        const shell = p.positionals[0]!;
        if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`unsupported shell ${JSON.stringify(shell)}: bash or zsh`, cmd.path);
        io.stdout(shell === 'bash' ? bashScript(spec.completionProgram) : zshScript(spec.completionProgram));
        return 0;
      }
      case `${program} help`: {
        const target = findCommand(spec.root, p.positionals);
        if (!target) throw new UsageError(`unknown command ${JSON.stringify(p.positionals.join(' '))}`, cmd.path);
        io.stdout(renderHelp(target, globals));
        return 0;
      }
    }
    const handler = spec.handlers.get(cmd.path);
    if (!handler) throw new Error(`no handler for ${cmd.path}`);
    return await handler(p, cmd);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(usageErrorLine(err));
      return 2;
    }
    throw err;
  }
}
