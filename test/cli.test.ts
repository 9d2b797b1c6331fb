// Both CLIs as a user runs them: the built binaries (dist/, compiled here first) as child
// processes. Every command's --help/-h, version, completion and bad input: exit codes, which
// stream, one line for an error, never a stack trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const BIN = { podlb: join(ROOT, 'dist/src/cli/podlb.js'), 'kubectl podlb': join(ROOT, 'dist/src/cli/kubectl-podlb.js') } as const;
type Program = keyof typeof BIN;
const STACK = /^\s+at /m;

interface Run {
  code: number;
  out: string;
  err: string;
}

function run(program: Program | string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const file = program in BIN ? BIN[program as Program] : program;
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: dir, ...env }, timeout: 30_000 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err });
    });
  });
}

/** One line on stderr naming the problem and the help command, nothing on stdout, exit 2. */
function expectUsageError(r: Run, help: string, what: RegExp): void {
  expect(r.code, r.err).toBe(2);
  expect(r.out).toBe('');
  expect(r.err).not.toMatch(STACK);
  expect(r.err.endsWith('\n') && r.err.split('\n').length === 2, r.err).toBe(true);
  expect(r.err).toMatch(/^error: /);
  expect(r.err).toMatch(what);
  expect(r.err).toContain(`See '${help} --help'.`);
}

let dir: string;

// Every command, as `<program> --help` lists it; a command missing here fails "lists exactly".
const COMMANDS: Record<Program, string[]> = {
  podlb: ['agent', 'controller', 'render', 'render bird', 'withdraw', 'lab', 'version', 'completion', 'help'],
  'kubectl podlb': ['status', 'pools', 'approve', 'reject', 'explain', 'version', 'completion', 'help'],
};
const ALL = (Object.keys(COMMANDS) as Program[]).flatMap((p) => [[p, ''] as const, ...COMMANDS[p].map((c) => [p, c] as const)]);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'podlb-cli-'));
  // The binaries under test are the ones this tree builds, with its build info.
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, ['dist/src/build/write-build-info.js'], { cwd: ROOT, stdio: 'ignore' });
}, 300_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('help', () => {
  it.each(Object.keys(COMMANDS) as Program[])('%s --help lists exactly the known commands', async (p) => {
    const r = await run(p, ['--help']);
    const section = r.out.split('\nCommands:\n')[1]!.split('\n\n')[0]!;
    const top = COMMANDS[p].filter((c) => !c.includes(' '));
    expect(section.split('\n').map((l) => l.trim().split(/\s+/)[0])).toEqual(top);
  });

  it.each(ALL)('%s %s --help: usage, every flag with a default, an example; stdout, exit 0; -h the same', async (p, cmd) => {
    const words = cmd ? cmd.split(' ') : [];
    const r = await run(p, [...words, '--help']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain(`Usage:\n  ${[p, ...words].join(' ')}`);
    expect(r.out).toMatch(/\nExamples:\n {2}\S/);
    const flagLines = r.out.split('\n').filter((l) => /^ {2}(-\w, )? {0,4}--[a-z]/.test(l));
    expect(flagLines.length).toBeGreaterThan(0);
    for (const l of flagLines) expect(l, l).toMatch(/ {3}\S.*\(default [^)]+\)/);
    expect((await run(p, [...words, '-h'])).out).toBe(r.out);
  });

  it.each(Object.keys(COMMANDS) as Program[])('%s without arguments prints its help, exit 0', async (p) => {
    const r = await run(p, []);
    expect(r.code).toBe(0);
    expect(r.out).toBe((await run(p, ['--help'])).out);
  });

  it('podlb help agent is podlb agent --help', async () => {
    expect((await run('podlb', ['help', 'agent'])).out).toBe((await run('podlb', ['agent', '--help'])).out);
  });
});

describe('bad input: one line, exit 2, no stack trace', () => {
  it.each(ALL)('%s %s --no-such-flag', async (p, cmd) => {
    const words = cmd ? cmd.split(' ') : [];
    const r = await run(p, [...words, '--no-such-flag']);
    const path = [p, ...words].join(' ');
    // A command group wants its subcommand first.
    expectUsageError(r, path, cmd === 'render' ? /"podlb render" needs a command: bird/ : new RegExp(`unknown flag --no-such-flag for "${path}"`));
  });

  it.each(ALL.filter(([, c]) => c !== 'render'))('%s %s: every flag that takes a value refuses to go without one', async (p, cmd) => {
    const words = cmd ? cmd.split(' ') : [];
    const all = (await run(p, [...words, '--help'])).out;
    // The global flags once, with the root command.
    const help = cmd ? all.split('\nGlobal flags')[0]! : all;
    const valued = [...help.matchAll(/^ {2}(?:-\w, )? {0,4}--([a-z-]+) [A-Z]/gm)].map((m) => m[1]!);
    for (const flag of valued) {
      const r = await run(p, [...words, `--${flag}`]);
      expectUsageError(r, [p, ...words].join(' '), new RegExp(`flag --${flag} needs a value`));
    }
  });

  it.each<[Program, string[], RegExp]>([
    ['podlb', ['agent', '--nodename', 'n1'], /unknown flag --nodename for "podlb agent"; did you mean --node-name\?/],
    ['podlb', ['agent', '--node-name', 'n1', '--no-bgp', '--health-port', 'abc'], /--health-port: "abc" is not a port/],
    ['podlb', ['agent', '--node-name', 'n1', '--no-bgp', '--health-address', 'localhost'], /--health-address: "localhost" is not an IP address/],
    ['podlb', ['agent', '--node-name', 'n1', '--no-bgp', '--pending-poll-ms', '0'], /--pending-poll-ms: "0" is not a positive whole number/],
    ['podlb', ['agent', '--node-name', 'n1', '--no-bgp', '--hold-down-seconds', '0'], /--hold-down-seconds: "0" is not a positive whole number/],
    ['podlb', ['agent', '--node-name', 'n1', '--no-bgp', '--log-level', 'loud'], /--log-level: "loud" is not one of fatal, error/],
    ['podlb', ['agent', '--no-bgp'], /--node-name NAME is required \(or set NODE_NAME\)/],
    ['podlb', ['agent', '--node-name', 'n1'], /--bird-socket PATH and --bird-config PATH are required unless --no-bgp/],
    ['podlb', ['controller', '--webhook-port', '70000'], /--webhook-port: "70000" is not a port/],
    ['podlb', ['controller', '--lease-duration', '1500ms'], /--lease-duration: whole seconds/],
    ['podlb', ['controller', '--bgp', 'frr'], /--bgp: "frr" is not one of bird, calico/],
    ['podlb', ['controller', 'extra'], /"podlb controller" takes no positional arguments, got "extra"/],
    ['podlb', ['render', 'bird'], /--node NAME and --objects FILE.yaml are required/],
    ['podlb', ['render', 'birb'], /unknown command "birb" for "podlb render"; did you mean "bird"\?/],
    ['podlb', ['withdraw', '--bird-socket', '/x'], /--bird-socket PATH and --bird-config PATH are required/],
    ['podlb', ['lab', '--once=maybe'], /--once: "maybe" is not true or false/],
    ['podlb', ['agnet'], /unknown command "agnet" for "podlb"; did you mean "agent"\?/],
    ['podlb', ['version', '-o', 'xml'], /-o: "xml" is not one of json, yaml/],
    ['podlb', ['completion', 'fish'], /unsupported shell "fish": bash or zsh/],
    ['podlb', ['completion'], /"podlb completion" needs a shell: bash or zsh/],
    ['podlb', ['help', 'nope'], /unknown command "nope"/],
    ['kubectl podlb', ['pool'], /unknown command "pool" for "kubectl podlb"; did you mean "pools"\?/],
    ['kubectl podlb', ['pools', '-o', 'xml'], /-o: "xml" is not one of json, yaml, wide/],
    ['kubectl podlb', ['pools', '--kubeconfg', 'x'], /unknown flag --kubeconfg for "kubectl podlb pools"; did you mean --kubeconfig\?/],
    ['kubectl podlb', ['status', '--request-timeout', 'soon'], /--request-timeout: "soon" is not a timeout/],
    ['kubectl podlb', ['approve', 'tokyo-pods'], /--reason is required/],
    ['kubectl podlb', ['reject', '--reason', 'x'], /needs exactly one pool name/],
    ['kubectl podlb', ['explain', 'pod/x'], /explain needs svc\/NAME, got "pod\/x"/],
    ['kubectl podlb', ['explain', 'svc/x', '-o', 'table'], /is not one of json, yaml, wide/],
    ['kubectl podlb', ['pools', '--as-group', 'g'], /--as-group needs --as/],
    ['kubectl podlb', ['version', '-o', 'wide'], /is not one of json, yaml/],
  ])('%s %j', async (p, args, what) => {
    const help = (await run(p, args)).err.match(/See '(.*) --help'/)?.[1] ?? '?';
    expectUsageError(await run(p, args), help, what);
  });
});

describe('runtime failures: one line, exit 1, no stack trace', () => {
  it('kubectl podlb with an API server that refuses connections', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const kc = join(dir, 'closed.yaml');
    writeFileSync(
      kc,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
    );
    for (const cmd of [['status'], ['pools'], ['explain', 'svc/x'], ['approve', 'p', '--reason', 'r']]) {
      const r = await run('kubectl podlb', [...cmd, '--kubeconfig', kc]);
      expect(r.code, r.err).toBe(1);
      expect(r.err).not.toMatch(STACK);
      expect(r.err).toMatch(/^kubectl-podlb: .*ECONNREFUSED [\d.:]+\n$/);
    }
  });

  it('podlb agent with a kubeconfig that does not exist', async () => {
    const r = await run('podlb', ['agent', '--node-name', 'n1', '--no-bgp', '--health-port', '0', '--kubeconfig', join(dir, 'missing.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).not.toMatch(STACK);
    expect(r.err).toMatch(/^podlb: ENOENT.*missing\.yaml'\n$/);
  });
});

describe('version', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const date = execFileSync('git', ['show', '-s', '--format=%cI', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();

  it.each<[Program, string[]]>([
    ['podlb', ['version']],
    ['podlb', ['--version']],
    ['kubectl podlb', ['version']],
    ['kubectl podlb', ['--version']],
  ])('%s %j prints version, commit and build date', async (p, args) => {
    const r = await run(p, args);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^${p} version ${pkg.version} \\(commit ${head}(-dirty)?, built ${date.replace(/\+/g, '\\+')}, node v\\d+`));
  });

  it.each<Program>(['podlb', 'kubectl podlb'])('%s version -o json|yaml: the build info', async (p) => {
    const json = JSON.parse((await run(p, ['version', '-o', 'json'])).out) as { clientVersion: Record<string, string> };
    expect(json.clientVersion).toMatchObject({ version: pkg.version, gitCommit: head, buildDate: date, nodeVersion: process.version });
    expect(['clean', 'dirty']).toContain(json.clientVersion.gitTreeState);
    const { parse } = await import('yaml');
    expect(parse((await run(p, ['version', '-o', 'yaml'])).out)).toEqual(json);
  });

  it('built outside git: "unknown"; with the build args: theirs', async () => {
    try {
      // As in a Docker build context without .git: git cannot find a repository.
      execFileSync(process.execPath, [join(ROOT, 'dist/src/build/write-build-info.js')], {
        cwd: dir,
        env: { PATH: process.env.PATH, GIT_CEILING_DIRECTORIES: tmpdir() },
        stdio: 'ignore',
      });
      expect(JSON.parse((await run('podlb', ['version', '-o', 'json'])).out).clientVersion).toMatchObject({
        gitCommit: 'unknown',
        buildDate: 'unknown',
        gitTreeState: 'unknown',
      });
      execFileSync(process.execPath, [join(ROOT, 'dist/src/build/write-build-info.js')], {
        cwd: dir,
        env: { PATH: process.env.PATH, PODLB_GIT_COMMIT: 'abc123', PODLB_BUILD_DATE: '2026-12-01T00:00:00Z' },
        stdio: 'ignore',
      });
      expect(JSON.parse((await run('podlb', ['version', '-o', 'json'])).out).clientVersion).toMatchObject({
        gitCommit: 'abc123',
        buildDate: '2026-12-01T00:00:00Z',
      });
    } finally {
      execFileSync(process.execPath, ['dist/src/build/write-build-info.js'], { cwd: ROOT, stdio: 'ignore' });
    }
  });
});

describe('completion', () => {
  /** Runs the bash completion function as bash would for `line` (the cursor at its end). */
  function bashComplete(program: string, script: string, line: string): string[] {
    const bin = join(dir, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    const target = program === 'podlb' ? BIN.podlb : BIN['kubectl podlb'];
    writeFileSync(join(bin, program), `#!/bin/sh\nexec "${process.execPath}" "${target}" "$@"\n`);
    chmodSync(join(bin, program), 0o755);
    writeFileSync(join(dir, 'completion.bash'), script);
    const words = line.split(' ');
    const out = execFileSync(
      'bash',
      [
        '-c',
        `source ${join(dir, 'completion.bash')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; ${script.match(/^(_\w+)\(\)/m)![1]}; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { cwd: ROOT, env: { PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' },
    );
    return out.split('\n').filter(Boolean);
  }

  it.each<[Program, string]>([
    ['podlb', 'podlb'],
    ['kubectl podlb', 'kubectl-podlb'],
  ])('%s completion bash completes commands, flags and flag values in bash', async (p, program) => {
    const r = await run(p, ['completion', 'bash']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/\ncomplete -F _\w+ (podlb|kubectl-podlb)\n$/);
    if (p === 'podlb') {
      expect(bashComplete(program, r.out, 'podlb ag')).toEqual(['agent']);
      expect(bashComplete(program, r.out, 'podlb agent --node')).toEqual(['--node-name']);
      expect(bashComplete(program, r.out, 'podlb agent --log-level d')).toEqual(['debug']);
      expect(bashComplete(program, r.out, 'podlb render b')).toEqual(['bird']);
      // File names only where the flag takes a file (the shell runs in the repository here).
      expect(bashComplete(program, r.out, 'podlb render bird --objects package').sort()).toEqual(['package-lock.json', 'package.json']);
      expect(bashComplete(program, r.out, 'podlb agent --node-name package')).toEqual([]);
    } else {
      expect(bashComplete(program, r.out, 'kubectl-podlb --context x p')).toEqual(['pools']);
      expect(bashComplete(program, r.out, 'kubectl-podlb pools -o ')).toEqual(['json', 'yaml', 'wide']);
      // `--output=y`: bash makes '=' a word of its own.
      expect(bashComplete(program, r.out, 'kubectl-podlb pools --output = y')).toEqual(['yaml']);
    }
  });

  it.each<Program>(['podlb', 'kubectl podlb'])('%s completion zsh registers a compdef function', async (p) => {
    const r = await run(p, ['completion', 'zsh']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^#compdef (podlb|kubectl-podlb)\n/);
    expect(r.out).toMatch(/\ncompdef _\w+ (podlb|kubectl-podlb)\n$/);
  });

  // kubectl is optional here (Debian has no package); where it is, the real one drives the hook.
  const hasKubectl = spawnSync('sh', ['-c', 'command -v kubectl']).status === 0;
  it.skipIf(!hasKubectl)('the real kubectl completes `kubectl podlb …` through kubectl_complete-podlb on PATH', () => {
    const bin = join(dir, 'plugin-bin');
    execFileSync('mkdir', ['-p', bin]);
    for (const [name, file] of [
      ['kubectl-podlb', 'kubectl-podlb.js'],
      ['kubectl_complete-podlb', 'kubectl-complete-podlb.js'],
    ]) {
      writeFileSync(join(bin, name!), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist/src/cli', file!)}" "$@"\n`);
      chmodSync(join(bin, name!), 0o755);
    }
    const env = { PATH: `${bin}:${process.env.PATH}`, HOME: dir };
    const complete = (...words: string[]): string =>
      execFileSync('kubectl', ['__complete', 'podlb', ...words], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(complete('p')).toBe('pools\n:4\n');
    expect(complete('explain', 'svc/x', '--output', '')).toBe('json\nyaml\nwide\n:4\n');
    expect(execFileSync('kubectl', ['podlb', 'version'], { env, encoding: 'utf8' })).toMatch(/^kubectl podlb version /);
  });

  it('kubectl_complete-podlb answers kubectl 1.26+ plugin completion (cobra __complete protocol)', async () => {
    const complete = join(ROOT, 'dist/src/cli/kubectl-complete-podlb.js');
    expect((await run(complete, ['ap'])).out).toBe('approve\n:4\n');
    expect((await run(complete, ['explain', '-n', 'ads', 'svc/x', '-o', ''])).out).toBe('json\nyaml\nwide\n:4\n');
    expect((await run(complete, ['pools', '--kubeconfig', ''])).out).toBe(':0\n');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin['kubectl_complete-podlb']).toBe('dist/src/cli/kubectl-complete-podlb.js');
  });
});
