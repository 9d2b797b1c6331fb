import { describe, expect, it } from 'vitest';
import { decideLease, microTime } from './leader-election.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const base = { identity: 'me', leaseDurationSeconds: 15 };

describe('decideLease (pure, clock passed in)', () => {
  it('creates a missing Lease', () => {
    expect(decideLease(undefined, { ...base, now: T0, observedAt: T0 })).toEqual({
      kind: 'create',
      spec: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: '2026-01-01T00:00:00.000000Z',
        renewTime: '2026-01-01T00:00:00.000000Z',
        leaseTransitions: 0,
      },
    });
  });

  it.each([
    ['held by another, observed 14.9 s ago: wait', 14_900, 'heldByOther'],
    ['held by another, observed 15 s ago: take over', 15_000, 'update'],
  ])('%s', (_n, age, kind) => {
    const v = decideLease(
      { holderIdentity: 'other', leaseDurationSeconds: 15, leaseTransitions: 3, renewTime: microTime(T0) },
      { ...base, now: T0 + age, observedAt: T0 },
    );
    expect(v.kind).toBe(kind);
    if (v.kind === 'update')
      expect(v).toMatchObject({ transition: true, spec: { holderIdentity: 'me', leaseTransitions: 4, acquireTime: microTime(T0 + age) } });
    if (v.kind === 'heldByOther') expect(v).toEqual({ kind: 'heldByOther', holder: 'other', expiresAt: T0 + 15_000 });
  });

  it("uses the holder's leaseDurationSeconds, and only the local observation time (never the holder's renewTime)", () => {
    // renewTime from a clock an hour behind: irrelevant, the observation was 2 s ago.
    const spec = { holderIdentity: 'other', leaseDurationSeconds: 5, renewTime: microTime(T0 - 3_600_000) };
    expect(decideLease(spec, { ...base, now: T0 + 2_000, observedAt: T0 }).kind).toBe('heldByOther');
    expect(decideLease(spec, { ...base, now: T0 + 5_000, observedAt: T0 }).kind).toBe('update');
  });

  it('renews its own Lease keeping acquireTime and transitions', () => {
    const v = decideLease(
      { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: microTime(T0), leaseTransitions: 2 },
      { ...base, now: T0 + 1_000, observedAt: T0 },
    );
    expect(v).toEqual({
      kind: 'update',
      transition: false,
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15, acquireTime: microTime(T0), renewTime: microTime(T0 + 1_000), leaseTransitions: 2 },
    });
  });

  it('takes a released Lease (empty holder) at once', () => {
    const v = decideLease({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 2 }, { ...base, now: T0, observedAt: T0 });
    expect(v).toMatchObject({ kind: 'update', transition: true, spec: { leaseTransitions: 3 } });
  });
});
