// KubeClient takes client-node's request options as they come: 1.4's applyToFetchOptions gives a
// WHATWG Headers object, whose own properties are empty (spreading it lost Authorization).
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { headerRecord } from './client.js';

describe('headerRecord', () => {
  it('keeps the Authorization client-node 1.4 puts in a Headers object', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
      users: [{ name: 'u', token: 'abc' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const init = await kc.applyToFetchOptions({});
    expect(Object.keys({ ...(init.headers as object) })).toEqual([]); // what the old spread passed on
    expect(headerRecord(init.headers)).toEqual({ authorization: 'Bearer abc' });
  });

  it.each([
    ['a record', { A: 'x', B: ['y', 'z'] }, { A: 'x', B: 'y, z' }],
    ['pairs', [['A', 'x']], { A: 'x' }],
    ['nothing', undefined, {}],
  ])('accepts %s', (_n, input, want) => {
    expect(headerRecord(input)).toEqual(want);
  });
});
