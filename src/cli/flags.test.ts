import { describe, expect, it } from 'vitest';
import {
  type Command,
  type Flag,
  HELP_FLAG,
  UsageError,
  bool,
  editDistance,
  list,
  parseFlags,
  parseRequestTimeout,
  renderHelp,
  resolveCommand,
  str,
  suggest,
  usageErrorLine,
  wantsHelp,
} from './flags.js';

const FLAGS: Flag[] = [
  { name: 'node-name', type: 'string', arg: 'NAME', description: 'node' },
  { name: 'output', short: 'o', type: 'string', choices: ['json', 'yaml'], description: 'format' },
  { name: 'port', type: 'string', default: '9253', check: (v) => (/^\d+$/.test(v) ? undefined : 'is not a port'), description: 'port' },
  { name: 'no-bgp', type: 'boolean', description: 'no bgp' },
  { name: 'gw', type: 'strings', description: 'gateways' },
  { name: 'offset', type: 'string', description: 'may be negative' },
  HELP_FLAG,
];
const CMD: Command = {
  path: 'podlb agent',
  summary: 'agent',
  flags: FLAGS.slice(0, -1),
  args: { min: 0, max: 1, name: 'at most one NAME' },
  examples: ['podlb agent --node-name n1'],
};

function parse(argv: string[]) {
  return parseFlags(CMD, FLAGS, argv);
}

function usage(argv: string[]): string {
  try {
    parse(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return usageErrorLine(err as UsageError);
  }
  throw new Error(`${JSON.stringify(argv)} parsed`);
}

describe('parseFlags', () => {
  it('takes pflag forms: --f v, --f=v, -f v, -fv, -f=v, --bool, --bool=false, repeats, --', () => {
    expect(str(parse(['--node-name', 'n1']), 'node-name')).toBe('n1');
    expect(str(parse(['--node-name=n=1']), 'node-name')).toBe('n=1');
    expect(str(parse(['-o', 'json']), 'output')).toBe('json');
    expect(str(parse(['-ojson']), 'output')).toBe('json');
    expect(str(parse(['-o=yaml']), 'output')).toBe('yaml');
    expect(bool(parse(['--no-bgp']), 'no-bgp')).toBe(true);
    expect(bool(parse(['--no-bgp=false']), 'no-bgp')).toBe(false);
    expect(list(parse(['--gw', 'a', '--gw=b']), 'gw')).toEqual(['a', 'b']);
    expect(parse(['--', '--node-name']).positionals).toEqual(['--node-name']);
    expect(str(parse(['--offset', '-5']), 'offset')).toBe('-5');
  });

  it('applies defaults', () => {
    const p = parse(['x', '--node-name', 'n1']);
    expect(str(p, 'port')).toBe('9253');
    expect(bool(p, 'no-bgp')).toBe(false);
    expect(list(p, 'gw')).toEqual([]);
    expect(p.positionals).toEqual(['x']);
  });

  it.each([
    [['--nodename', 'x'], `error: unknown flag --nodename for "podlb agent"; did you mean --node-name? See 'podlb agent --help'.\n`],
    [['--zzz'], `error: unknown flag --zzz for "podlb agent". See 'podlb agent --help'.\n`],
    [['-x'], `error: unknown shorthand flag -x in -x for "podlb agent". See 'podlb agent --help'.\n`],
    [['--node-name'], `error: flag --node-name needs a value, e.g. --node-name NAME. See 'podlb agent --help'.\n`],
    [['--node-name', '--no-bgp'], `error: flag --node-name needs a value, e.g. --node-name NAME. See 'podlb agent --help'.\n`],
    [['-o'], `error: flag -o needs a value, e.g. -o json (one of json, yaml). See 'podlb agent --help'.\n`],
    [['-o', 'xml'], `error: -o: "xml" is not one of json, yaml. See 'podlb agent --help'.\n`],
    [['--port', 'abc'], `error: --port: "abc" is not a port. See 'podlb agent --help'.\n`],
    [['--no-bgp=maybe'], `error: --no-bgp: "maybe" is not true or false. See 'podlb agent --help'.\n`],
    [['a', 'b'], `error: "podlb agent" takes at most one NAME, got 2 arguments: "a" "b". See 'podlb agent --help'.\n`],
  ])('%j: %s', (argv, line) => {
    expect(usage(argv)).toBe(line);
  });

  it('a command without arguments says so', () => {
    expect(() => parseFlags({ path: 'podlb lab', summary: '' }, [], ['x'])).toThrow('"podlb lab" takes no positional arguments, got "x"');
  });
});

describe('resolveCommand', () => {
  const root: Command = {
    path: 'kubectl podlb',
    summary: '',
    subcommands: [
      { path: 'kubectl podlb pools', summary: '' },
      { path: 'kubectl podlb status', summary: '' },
    ],
  };
  const globals: Flag[] = [
    { name: 'context', type: 'string', description: '' },
    { name: 'namespace', short: 'n', type: 'string', description: '' },
  ];
  it('skips global flags and their values before the command', () => {
    const r = resolveCommand(root, ['--context', 'pools', '-n', 'status', 'pools', '-o', 'json'], globals);
    expect(r.cmd.path).toBe('kubectl podlb pools');
    expect(r.rest).toEqual(['--context', 'pools', '-n', 'status', '-o', 'json']);
  });
  it('suggests a near command', () => {
    expect(() => resolveCommand(root, ['pool'], globals)).toThrow('unknown command "pool" for "kubectl podlb"; did you mean "pools"?');
  });
});

describe('helpers', () => {
  it('wantsHelp stops at --', () => {
    expect(wantsHelp(['--x', '-h'])).toBe(true);
    expect(wantsHelp(['--', '--help'])).toBe(false);
  });
  it('suggest: close edits, squashed prefixes, nothing far', () => {
    expect(editDistance('nodename', 'node-name')).toBe(1);
    expect(suggest('kubeconfg', ['kubeconfig', 'context'])).toBe('kubeconfig');
    expect(suggest('webhook', ['webhook-port', 'gc-grace'])).toBe('webhook-port');
    expect(suggest('zzz', ['kubeconfig', 'context'])).toBeUndefined();
  });
  it.each<[string, number | undefined]>([
    ['0', 0],
    ['5', 5000],
    ['5s', 5000],
    ['1m30s', 90_000],
    ['250ms', 250],
    ['1h', 3_600_000],
    ['5x', undefined],
    ['-1', undefined],
    ['1.5', undefined],
    ['', undefined],
  ])('parseRequestTimeout(%j) = %j', (text, ms) => {
    expect(parseRequestTimeout(text)).toBe(ms);
  });
  it('help lists every flag with its default, and the examples', () => {
    const help = renderHelp(CMD);
    expect(help).toMatch(/^agent\n\nUsage:\n {2}podlb agent \[flags\]\n/);
    expect(help).toContain('Examples:\n  podlb agent --node-name n1\n');
    for (const f of FLAGS) expect(help).toMatch(new RegExp(`--${f.name}\\b.*\\(default `));
    expect(help).toMatch(/--port VALUE +port \(default "9253"\)/);
    expect(help).toMatch(/-o, --output VALUE +format \(one of json\|yaml\) \(default none\)/);
  });
});
