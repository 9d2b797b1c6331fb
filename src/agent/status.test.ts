// PodLBNode status writes against the in-process API server, which enforces the CRD schema as
// a real cluster does: BIRD's session times must become RFC 3339, and a refused write is
// counted, reported once and retried with backoff rather than every run.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BgpSessionStatus } from '../api/types.js';
import { startApiServer, type ApiServer } from '../apiserver/index.js';
import { birdTimeToRfc3339, parseShowProtocolsAll } from '../bgp/bird-protocols.js';
import type { KubeClient } from '../kube/client.js';
import { NodeStatusWriter, STATUS_REPORTED, type PodLBNodeStatus } from './status.js';
import { adminClient } from '../../testkit/api-client.js';

const log = pino({ level: 'silent' });
let api: ApiServer;
let client: KubeClient;

beforeAll(async () => {
  api = await startApiServer();
  client = adminClient(api);
});

afterAll(async () => {
  await api?.close();
});

const session = (since: string): BgpSessionStatus => ({ peer: 'tor', protocol: 'podlb_tor', peerAddress: '192.0.2.1', state: 'Established', since });
const statusWith = (since: string): PodLBNodeStatus => ({ bgp: { sessions: [session(since)] }, members: { registered: 0, healthy: 0, draining: 0 } });

describe('BIRD session times in PodLBNode status', () => {
  const reply = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../bgp/testdata/show-protocols-all.bird-2.0.12.txt'), 'utf8');
  const birdSince = parseShowProtocolsAll(reply)[0]!.since;

  it("BIRD's own time of day is refused by the server; converted to RFC 3339 it is written", async () => {
    expect(birdSince).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3}$/);
    const w = new NodeStatusWriter(client, 'times', log);
    const raw = await w.write(undefined, () => statusWith(birdSince));
    expect(raw.failed?.code).toBe(422);
    expect(raw.failed?.error).toContain('status.bgp.sessions[0].since in body must be of type date-time');

    const fixed = new NodeStatusWriter(client, 'times', log);
    const since = birdTimeToRfc3339(birdSince)!;
    expect(await fixed.write(undefined, () => statusWith(since))).toEqual({});
    expect(api.store.get('podlbnodes', 'times').status.bgp.sessions[0].since).toBe(since);
  });

  it.each([
    ['2026-12-06T06:08:42.361+0000', '2026-12-06T06:08:42.361Z'],
    ['2026-12-06T08:08:42.361+02:00', '2026-12-06T06:08:42.361Z'],
  ])('a zoned BIRD time %s is %s', (bird, iso) => expect(birdTimeToRfc3339(bird)).toBe(iso));

  it('local forms are BIRD local time: iso long, iso short (today, or yesterday if in the future) and a bare date', () => {
    const now = new Date(2026, 11, 6, 7, 0, 0);
    expect(birdTimeToRfc3339('2026-12-05 06:08:42.361', now)).toBe(new Date(2026, 11, 5, 6, 8, 42, 361).toISOString());
    expect(birdTimeToRfc3339('2026-12-05 06:08:42', now)).toBe(new Date(2026, 11, 5, 6, 8, 42).toISOString());
    expect(birdTimeToRfc3339('06:08:42.361', now)).toBe(new Date(2026, 11, 6, 6, 8, 42, 361).toISOString());
    expect(birdTimeToRfc3339('23:59:59.000', now)).toBe(new Date(2026, 11, 5, 23, 59, 59).toISOString());
    expect(birdTimeToRfc3339('2026-11-30', now)).toBe(new Date(2026, 10, 30).toISOString());
    expect(birdTimeToRfc3339('yesterday', now)).toBeUndefined();
  });
});

describe('a status write the server refuses', () => {
  it('fails with a Warning Event once per episode, backs off, and the next successful write says what happened', async () => {
    let now = Date.parse('2026-12-06T07:00:00Z');
    const w = new NodeStatusWriter(client, 'refused', log, { now: () => now, random: () => 0.5, clientErrorBackoff: { baseMs: 5_000, maxMs: 60_000 } });
    const bad = statusWith('06:08:42.361');

    const first = await w.write(undefined, () => bad);
    expect(first.failed?.code).toBe(422);
    expect(first.event).toMatchObject({ type: 'Warning', reason: 'StatusWriteFailed', object: { kind: 'PodLBNode', name: 'refused' } });
    expect(first.event?.message).toContain('must be of type date-time');
    expect(first.retryAt).toBe(now + 5_000);

    // Before the retry time nothing is sent, and nothing is counted or reported again.
    const rv = api.store.resourceVersion;
    now += 1_000;
    let built = 0;
    expect(
      await w.write(undefined, () => {
        built++;
        return bad;
      }),
    ).toEqual({ retryAt: now + 4_000 });
    expect(built).toBe(0);
    expect(api.store.resourceVersion).toBe(rv);

    now += 4_000;
    const second = await w.write(undefined, () => bad);
    expect(second.failed?.code).toBe(422);
    expect(second.event).toBeUndefined();
    expect(second.retryAt).toBe(now + 10_000);

    now += 10_000;
    const good = statusWith('2026-12-06T06:08:42.361Z');
    expect(await w.write(undefined, () => good)).toEqual({});
    const cond = api.store.get('podlbnodes', 'refused').status.conditions.find((c: { type: string }) => c.type === STATUS_REPORTED);
    expect(cond).toMatchObject({ status: 'True', reason: 'RecoveredAfterErrors' });
    expect(cond.message).toMatch(
      /^2 status write\(s\) failed from 2026-12-06T07:00:00.000Z to 2026-12-06T07:00:15.000Z, the last with: .*must be of type date-time/,
    );

    // The summary stays until the next episode; a new failure is a new episode with its own Event.
    now += 1_000;
    expect(await w.write(undefined, () => ({ ...good, members: { registered: 1, healthy: 1, draining: 0 } }))).toEqual({});
    expect(api.store.get('podlbnodes', 'refused').status.conditions.map((c: { type: string }) => c.type)).toEqual([STATUS_REPORTED]);
    now += 1_000;
    expect((await w.write(undefined, () => bad)).event?.reason).toBe('StatusWriteFailed');
  });
});

describe('members in PodLBNode status', () => {
  it('a warming member and the warming count pass the CRD schema; a state outside the enum is refused', async () => {
    const member = (state: string) => ({ name: 'podlb_warm_10.244.1.5_8080', backend: 'ads.bidder.http', pod: 'ads/w', state, instances: [] });
    const status = (state: string) =>
      ({
        members: { registered: 0, healthy: 0, draining: 0, warming: 1 },
        lb: { instances: [], members: [member(state)] },
      }) as PodLBNodeStatus;
    const w = new NodeStatusWriter(client, 'warm', log);
    expect(await w.write(undefined, () => status('warming'))).toEqual({});
    expect(api.store.get('podlbnodes', 'warm').status).toMatchObject({ members: { warming: 1 }, lb: { members: [{ state: 'warming' }] } });
    const refused = await new NodeStatusWriter(client, 'warm', log).write(undefined, () => status('cold'));
    expect(refused.failed?.code).toBe(422);
  });
});
