// The Event recorder against the in-process API server: one Event per problem however the
// repeats arrive, counted, a failed create tried again on the next occurrence, and background
// recording that never holds up its caller.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import type { KubeClient } from './client.js';
import { EventRecorder, type EventToRecord } from './events.js';
import { adminClient } from '../../testkit/api-client.js';
import type { ObjectRef } from '../api/problem.js';
import { describedEvents } from '../../testkit/described-events.js';

const log = pino({ level: 'silent' });
let api: ApiServer;
let client: KubeClient;

beforeAll(async () => {
  api = await startApiServer();
  client = adminClient(api);
});
afterAll(async () => {
  await client?.close();
  await api?.close();
});

const events = (name: string) =>
  (api.store.list('events', { namespace: 'default' }).items as { involvedObject: { name: string; uid?: string }; count: number }[]).filter(
    (e) => e.involvedObject.name === name,
  );
const ev = (name: string, message = 'broken'): EventToRecord => ({
  object: { apiVersion: 'podlb.io/v1alpha1', kind: 'BGPPeer', name, uid: `uid-${name}` },
  type: 'Warning',
  reason: 'InvalidPeer',
  message,
});

describe('EventRecorder', () => {
  it('repeats that arrive while the first create is in flight make no second Event', async () => {
    let t = 1_000_000;
    const rec = new EventRecorder(client, log, { component: 'test', host: 'h', now: () => t });
    await Promise.all([rec.record(ev('a')), rec.record(ev('a')), rec.record(ev('a')), rec.record(ev('b'))]);
    expect(events('a')).toHaveLength(1);
    expect(events('b')).toHaveLength(1);
    expect(events('a')[0]!.involvedObject.uid).toBe('uid-a');
    // After repeatEveryMs the folded count is written to that one Event.
    t += 61_000;
    await rec.record(ev('a'));
    expect(events('a')).toHaveLength(1);
    expect(events('a')[0]!.count).toBe(4);
  });

  it('a create that failed is tried again by the next occurrence', async () => {
    const rec = new EventRecorder(client, log, { component: 'test', host: 'h' });
    api.faults.failNext({ count: 1, status: 500, match: (m, p) => m === 'POST' && p.includes('/events') });
    await rec.record(ev('c'));
    expect(events('c')).toHaveLength(0);
    await rec.record(ev('c'));
    expect(events('c')).toHaveLength(1);
  });
});

describe('EventRecorder.recordLater', () => {
  it('returns before the write and keeps at most inFlight writes at the server at once', async () => {
    const LATENCY_MS = 150;
    const recorder = new EventRecorder(client, log, { component: 'podlb-agent', host: 'n1', inFlight: 2 });
    const events = () => api.store.list('events', { namespace: 'default' }).items.length;
    const before = events();
    api.faults.setLatencyMs(LATENCY_MS);
    try {
      const t0 = performance.now();
      for (let i = 0; i < 6; i++)
        recorder.recordLater({
          object: { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: `burst-${i}`, uid: `u${i}` },
          type: 'Normal',
          reason: 'MemberRegistered',
          message: `member ${i}`,
        });
      expect(events()).toBe(before);
      await recorder.settled();
      // Six writes two at a time are three server round trips; all six at once would be one.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(3 * LATENCY_MS);
      expect(events()).toBe(before + 6);
    } finally {
      api.faults.setLatencyMs(0);
    }
  });
});

describe('EventRecorder: the uid kubectl describe needs', () => {
  const pool = (name: string, uid?: string) => ({ kind: 'PodAddressPool', metadata: { name, ...(uid ? { uid } : {}) } });
  const onPool = (name: string): EventToRecord => ({
    object: { apiVersion: 'podlb.io/v1alpha1', kind: 'PodAddressPool', name },
    type: 'Warning',
    reason: 'PoolNotApproved',
    message: 'not approved',
  });

  it('a ref without uid gets it from uidOf, and the describe-style lookup (field selector involvedObject.uid) finds the Event', async () => {
    const uids = new Map([['p1', 'uid-p1-a']]);
    const seen: ObjectRef[] = [];
    const rec = new EventRecorder(client, log, {
      component: 'test',
      host: 'h',
      uidOf: (ref) => {
        seen.push(ref);
        return ref.kind === 'PodAddressPool' ? uids.get(ref.name) : undefined;
      },
    });
    await rec.record(onPool('p1'));
    expect(events('p1').map((e) => e.involvedObject.uid)).toEqual(['uid-p1-a']);
    expect((await describedEvents(client, pool('p1', 'uid-p1-a'))).map((e) => e.reason)).toEqual(['PoolNotApproved']);
    // A ref that names its uid is taken as it is.
    await rec.record(ev('named'));
    expect(events('named')[0]!.involvedObject.uid).toBe('uid-named');
    expect(seen.map((r) => r.name)).toEqual(['p1']);

    // Deleted and created again under the same name: a new uid, its own Event, not a count on the old one's.
    uids.set('p1', 'uid-p1-b');
    await rec.record(onPool('p1'));
    expect((await describedEvents(client, pool('p1', 'uid-p1-b'))).map((e) => [e.reason, e.count])).toEqual([['PoolNotApproved', 1]]);
    expect((await describedEvents(client, pool('p1', 'uid-p1-a'))).map((e) => e.count)).toEqual([1]);
  });

  it('an object the caches do not hold (gone): the Event is written without uid, listed by name, and no describe shows it', async () => {
    const rec = new EventRecorder(client, log, { component: 'test', host: 'h', uidOf: () => undefined });
    await rec.record(onPool('gone'));
    expect(events('gone').map((e) => e.involvedObject.uid)).toEqual([undefined]);
    expect(await describedEvents(client, pool('gone', 'uid-of-a-new-gone'))).toEqual([]);
  });
});
