import { describe, expect, it } from 'vitest';
import { errorCode, PodlbError, UnreachableError } from './errors.js';

const nodeError = (code: unknown): Error => Object.assign(new Error('system call failed'), { code });

describe('errorCode', () => {
  it.each([
    ['a PodlbError: its own code', new PodlbError('BIRD_RENDER_UNSAFE', 'x'), 'BIRD_RENDER_UNSAFE'],
    ['a Node system error: its code', nodeError('ECONNREFUSED'), 'ECONNREFUSED'],
    ['digits after the first letter', nodeError('KUBE_503'), 'KUBE_503'],
    ['the wrapper, not its cause', new UnreachableError('BIRD_UNREACHABLE', 'x', nodeError('ENOENT')), 'BIRD_UNREACHABLE'],
    ['no code of its own: the cause', new Error('fetch failed', { cause: nodeError('UND_ERR_SOCKET') }), 'UND_ERR_SOCKET'],
    ['lower case (unbounded text)', nodeError('connection refused'), 'Other'],
    ['an errno that has no name', new PodlbError('NETLINK_errno 999', 'x'), 'Other'],
    ['longer than 40', nodeError(`E${'X'.repeat(40)}`), 'Other'],
    ['a numeric code', nodeError(500), 'Unknown'],
    ['a plain Error', new Error('boom'), 'Unknown'],
    ['a string', 'boom', 'Unknown'],
    ['undefined', undefined, 'Unknown'],
  ])('%s', (_what, err, code) => {
    expect(errorCode(err)).toBe(code);
  });

  it('stops on a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.assign(a, { cause: b });
    expect(errorCode(a)).toBe('Unknown');
  });
});
