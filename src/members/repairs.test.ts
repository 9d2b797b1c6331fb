import { describe, expect, it } from 'vitest';
import type { ObservedMember } from '../lb/provider.js';
import { MemberRepairs } from './repairs.js';

const member = (failed: boolean): ObservedMember => ({
  backend: 'web',
  name: 'n_10.0.0.1_80',
  address: '10.0.0.1',
  port: 80,
  admin: 'ready',
  health: failed ? 'unhealthy' : 'pending',
  detail: '',
  ...(failed ? { failed: true as const } : {}),
});

describe('MemberRepairs', () => {
  it('each repair of the same member waits twice as long, up to the cap, per instance', () => {
    const r = new MemberRepairs({ baseMs: 1000, maxMs: 3000, jitter: [1, 1] });
    expect(r.notBefore('i1')).toEqual(new Map());
    expect(r.repaired('i1', 'k', 0)).toBe(1);
    expect(r.notBefore('i1').get('k')).toBe(1000);
    expect(r.repaired('i1', 'k', 1000)).toBe(2);
    expect(r.notBefore('i1').get('k')).toBe(3000);
    r.repaired('i1', 'k', 3000);
    expect(r.notBefore('i1').get('k')).toBe(6000); // capped at 3 s
    expect(r.notBefore('i2')).toEqual(new Map());
  });

  it('a member seen programmed starts over; one still failing keeps its count', () => {
    const r = new MemberRepairs({ baseMs: 1000, maxMs: 60_000, jitter: [1, 1] });
    r.repaired('i1', 'k', 0);
    r.observed('i1', new Map([['k', member(true)]]));
    expect(r.repaired('i1', 'k', 0)).toBe(2);
    r.observed('i1', new Map([['k', member(false)]]));
    expect(r.notBefore('i1').has('k')).toBe(false);
    expect(r.repaired('i1', 'k', 0)).toBe(1);
  });
});
