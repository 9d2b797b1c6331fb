// Token lifetimes with a clock the test moves: a ServiceAccount token is accepted until its
// expiry plus the validator's one-minute leeway, and so is a token of a Pod whose graceful
// deletion started less than a minute ago.
import { beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from './authn.js';
import { createServerPki, type ServerPki } from './pki.js';
import { ObjectStore } from './store.js';

let pki: ServerPki;
beforeAll(async () => {
  pki = await createServerPki({ hosts: ['127.0.0.1'], now: Date.now() });
});

function setup(): { store: ObjectStore; authn: Authenticator; clock: { t: number } } {
  const clock = { t: Date.parse('2026-12-01T00:00:00Z') };
  const store = new ObjectStore({ now: () => new Date(clock.t) });
  store.create('serviceaccounts', { metadata: { name: 'sa', namespace: 'default' } });
  return { store, authn: new Authenticator(pki, store, () => clock.t), clock };
}

describe('ServiceAccount token lifetime', () => {
  it('expires after expirationSeconds plus one minute of leeway', () => {
    const { store, authn, clock } = setup();
    const { token, expirationTimestamp } = authn.issue({
      sa: store.get('serviceaccounts', 'sa', 'default'),
      audiences: ['https://kubernetes.default.svc.cluster.local'],
      expirationSeconds: 600,
    });
    expect(expirationTimestamp).toBe('2026-12-01T00:10:00Z');
    clock.t += 659_000;
    expect(authn.authenticateToken(token).ok).toBe(true);
    clock.t += 2_000;
    expect(authn.authenticateToken(token).ok).toBe(false);
  });

  it('a Pod-bound token survives a graceful deletion for a minute past its deletionTimestamp', () => {
    const { store, authn, clock } = setup();
    store.create('nodes', { metadata: { name: 'n1' } });
    const pod = store.create('pods', {
      metadata: { name: 'p', namespace: 'default' },
      spec: { nodeName: 'n1', serviceAccountName: 'sa', terminationGracePeriodSeconds: 30, containers: [{ name: 'c', image: 'x' }] },
    });
    const { token } = authn.issue({
      sa: store.get('serviceaccounts', 'sa', 'default'),
      audiences: ['https://kubernetes.default.svc.cluster.local'],
      expirationSeconds: 3600,
      pod,
    });
    store.delete('pods', 'p', 'default');
    expect(store.get('pods', 'p', 'default').metadata.deletionTimestamp).toBe('2026-12-01T00:00:30Z');
    clock.t += 89_000;
    expect(authn.authenticateToken(token).ok).toBe(true);
    clock.t += 2_000;
    expect(authn.authenticateToken(token).ok).toBe(false);
  });

  it('a token for another audience is refused by the API, accepted where that audience is asked for (TokenReview)', () => {
    const { store, authn } = setup();
    const { token } = authn.issue({ sa: store.get('serviceaccounts', 'sa', 'default'), audiences: ['vault'], expirationSeconds: 600 });
    expect(authn.authenticateToken(token).ok).toBe(false);
    expect(authn.authenticateToken(token, ['vault'])).toMatchObject({ ok: true, audiences: ['vault'] });
  });
});
