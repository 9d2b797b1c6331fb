import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { agentNodeFlags, daemonSetContainer, expandVars, flagValue, hostPathOf, podContainer } from './daemonset-pod.js';
import type { ImageRoot } from './image-root.js';

const image = (o: Partial<ImageRoot> = {}): ImageRoot => ({
  image: 'localhost/x:1',
  container: 'c',
  root: '/mnt/x',
  user: '1000:1000',
  workdir: '/app',
  env: [],
  entrypoint: ['node', 'dist/src/cli/podlb.js'],
  remove: () => undefined,
  ...o,
});
const fields = { nodeName: 'node1', namespace: 'podlb-system', hostIP: '172.31.1.2' };

describe('expandVars (Kubernetes $(VAR) references)', () => {
  it.each([
    ['$(NODE_NAME)', 'node1'],
    ['--node=$(NODE_NAME)/$(NODE_NAME)', '--node=node1/node1'],
    ['$(UNDEFINED) stays', '$(UNDEFINED) stays'],
    ['$$(NODE_NAME) is escaped', '$(NODE_NAME) is escaped'],
    ['$HOME is not a reference', '$HOME is not a reference'],
  ])('%s', (input, want) => {
    expect(expandVars(input, new Map([['NODE_NAME', 'node1']]))).toBe(want);
  });
});

describe('podContainer (the shipped DaemonSet as a kubelet starts it)', () => {
  it('bird: the manifest’s command replaces the ENTRYPOINT, its args follow, runAsUser beats the image’s USER', () => {
    const spec = daemonSetContainer('bird');
    const c = podContainer('bird', image({ entrypoint: ['bird', '-f'] }), fields, { 'bird-run': '/dev/shm/bird-node1' });
    expect(c.argv).toEqual([...spec.command!, ...(spec.args ?? [])]);
    expect(c.argv[0]).toBe('bird');
    expect(c.user).toBe(`${spec.securityContext!.runAsUser}:${spec.securityContext!.runAsGroup}`);
    expect(c.binds).toEqual(['/dev/shm/bird-node1:/run/bird']);
    expect(hostPathOf(c, flagValue(c.argv, '-s')!)).toBe('/dev/shm/bird-node1/bird.ctl');
    expect(hostPathOf(c, flagValue(c.argv, '-c')!)).toBe('/dev/shm/bird-node1/bird.conf');
    expect(() => hostPathOf(c, '/etc/bird/bird.conf')).toThrow(/on no volume/);
  });

  it('agent: the image’s node and script with the manifest’s node flags, its args after, $(NODE_NAME) from the fieldRef', () => {
    const c = podContainer('agent', image(), fields, { 'bird-run': '/b', tmp: '/t' });
    const flags = agentNodeFlags();
    expect(c.argv.slice(0, flags.length + 5)).toEqual(['node', ...flags, 'dist/src/cli/podlb.js', 'agent', '--node-name', 'node1']);
    expect(c.env).toEqual(expect.arrayContaining(['NODE_NAME=node1', 'POD_NAMESPACE=podlb-system']));
    expect(c.binds).toEqual(['/b:/run/bird', '/t:/tmp']);
  });

  it('the init container gets the node’s address and name from the downward API', () => {
    const c = podContainer('bird-config', image(), fields, { 'bird-run': '/b' });
    expect(c.env).toEqual(expect.arrayContaining(['NODE_NAME=node1', 'HOST_IP=172.31.1.2', 'BIRD_CONFIG=/run/bird/bird.conf']));
  });

  it('refuses a volume the caller does not provide and a container the DaemonSet does not have', () => {
    expect(() => podContainer('agent', image(), fields, { 'bird-run': '/b' })).toThrow(/volume tmp/);
    expect(() => podContainer('nope', image(), fields, {})).toThrow(/no container nope/);
  });
});

describe('agentNodeFlags (the V8 settings the agent runs with, in one place)', () => {
  it('are the DaemonSet agent container’s: a small young generation, sized for memory, no optimizing compilers', () => {
    expect(agentNodeFlags()).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--optimize-for-size', '--no-opt', '--no-maglev']));
    expect(daemonSetContainer('agent').command).toEqual(['node', ...agentNodeFlags(), 'dist/src/cli/podlb.js']);
  });

  it('start the scale bench’s agent, which reads them rather than a copy', () => {
    const bench = readFileSync(new URL('../../bench/scale-api.ts', import.meta.url), 'utf8');
    expect(bench).toMatch(/spawn\(\s*process\.execPath,\s*\[\s*\.\.\.agentNodeFlags\(\),\s*cliPath\(\)/);
    expect(bench).not.toMatch(/--max-semi-space-size|--optimize-for-size/);
  });
});
