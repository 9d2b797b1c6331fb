// HaproxyInstance against a real HAProxy 2.6 in the root namespace; "Pods" are Node HTTP
// servers on 127.0.0.1, traffic goes through a frontend bound on a unix socket.
import { join } from 'node:path';
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { startHaproxy, type HaproxyProcess } from '../src/lab/haproxy-process.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { HaproxyCommandError, HaproxyRuntime } from '../src/lb/haproxy-runtime.js';
import { memberName, memberNamePrefix } from '../src/lb/naming.js';
import type { MemberSpec, ObservedMember } from '../src/lb/provider.js';
import { UnreachableError } from '../src/util/errors.js';
import { requestVia, sleep, startPod, type TestPod } from '../testkit/haproxy-pods.js';

const NODE = 'node-a';
const PREFIX = memberNamePrefix(NODE);
const CHECK = { intervalMs: 300, rise: 2, fall: 2, httpPath: '/healthz' };

let sb: NetnsSandbox;
let hp: HaproxyProcess;
let lb: HaproxyInstance;
let httpSock: string;
const pods: TestPod[] = [];

async function pod(name: string): Promise<TestPod> {
  const p = await startPod(name);
  pods.push(p);
  return p;
}

/** healthCheck null: a member without health check. */
function spec(p: TestPod, healthCheck: MemberSpec['healthCheck'] | null = CHECK, backend = 'web'): MemberSpec {
  return { backend, name: memberName(NODE, p.address, p.port), address: p.address, port: p.port, healthCheck: healthCheck ?? undefined };
}

async function member(name: string, backend = 'web'): Promise<ObservedMember | undefined> {
  const { members } = await lb.listMembers([backend], PREFIX);
  return members.find((m) => m.name === name);
}

async function waitHealth(name: string, health: ObservedMember['health'], timeoutMs = 10_000): Promise<ObservedMember> {
  return waitFor(
    `${name} ${health}`,
    async () => {
      const m = await member(name);
      return m?.health === health ? m : undefined;
    },
    timeoutMs,
  );
}

beforeAll(async () => {
  sb = new NetnsSandbox();
  const dir = sb.tempDir('haproxy');
  httpSock = join(dir, 'http.sock');
  hp = await startHaproxy(sb, null, {
    dir,
    backends: [
      { name: 'web', httpCheckPath: '/healthz' },
      { name: 'static', balance: 'static-rr' },
    ],
    frontends: [{ name: 'fe', bind: `unix@${httpSock}`, backend: 'web' }],
  });
  lb = new HaproxyInstance(hp.runtimeAddress);
});

afterEach(async () => {
  // Every test starts from an empty `web` backend (other nodes' servers included).
  const rt = new HaproxyRuntime(hp.runtimeAddress);
  const { members } = await lb.listMembers(['web'], 'podlb_');
  for (const m of members) await lb.removeMember(m.backend, m.name);
  await rt.close();
  await Promise.all(pods.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await lb?.close();
  await sb?.cleanup();
});

describe('HaproxyInstance on HAProxy 2.6', () => {
  it('a new member is pending (not UP-before-check) until rise checks pass, and gets no request before that', async () => {
    const anchor = await pod('anchor');
    await lb.addMember(spec(anchor));
    await waitHealth(spec(anchor).name, 'healthy');

    const fresh = await pod('fresh');
    const s = spec(fresh, { intervalMs: 400, rise: 3, fall: 2 });
    await lb.addMember(s);
    const first = await member(s.name);
    expect(first).toMatchObject({ admin: 'ready', health: 'pending', detail: 'DOWN, no check completed yet (INI)' });

    // Traffic while pending: every request must be served by the anchor.
    const seen: string[] = [];
    let sent = 0;
    for (;;) {
      const m = await member(s.name);
      seen.push(m!.health);
      if (m!.health === 'healthy') break;
      const r = await requestVia(httpSock);
      sent++;
      expect(r).toEqual({ status: 200, body: 'anchor' });
    }
    expect(sent).toBeGreaterThan(10);
    expect(new Set(seen)).toEqual(new Set(['pending', 'healthy']));
    expect(fresh.hits).toEqual([]); // not one request before the check passed `rise` times
    expect(fresh.healthChecks).toBeGreaterThanOrEqual(3);
    // Once healthy it takes its share.
    const bodies = await Promise.all(Array.from({ length: 6 }, () => requestVia(httpSock).then((r) => r.body)));
    expect(bodies).toContain('fresh');
  });

  it('a warm member (pre-registration) is checked while drained, gets no request even once healthy, and takes traffic only after enableMember', async () => {
    const anchor = await pod('anchor');
    await lb.addMember(spec(anchor));
    await waitHealth(spec(anchor).name, 'healthy');

    const fresh = await pod('fresh');
    const s: MemberSpec = { ...spec(fresh, { intervalMs: 300, rise: 2, fall: 2 }), warm: true };
    await lb.addMember(s);
    expect(await member(s.name)).toMatchObject({ admin: 'drain', health: 'pending', detail: 'DRAIN, DOWN, no check completed yet (INI)' });

    // From the add on, through the checks and well after them: every request goes to the anchor.
    let sent = 0;
    const healthy = async (): Promise<boolean> => (await member(s.name))?.health === 'healthy';
    while (!(await healthy())) {
      expect(await requestVia(httpSock)).toEqual({ status: 200, body: 'anchor' });
      sent++;
    }
    expect(sent).toBeGreaterThan(5);
    expect(fresh.healthChecks).toBeGreaterThanOrEqual(2); // checks run on a drained server
    expect(await member(s.name)).toMatchObject({ admin: 'drain', health: 'healthy', detail: 'DRAIN, L7OK' });
    const bodies = await Promise.all(Array.from({ length: 30 }, () => requestVia(httpSock).then((r) => r.body)));
    expect(bodies.every((b) => b === 'anchor')).toBe(true);
    expect(fresh.hits).toEqual([]);

    // Healthy already: enabling lets it in at once, without another round of rise checks.
    const enabledAt = Date.now();
    await lb.enableMember('web', s.name);
    expect(await member(s.name)).toMatchObject({ admin: 'ready', health: 'healthy' });
    const after = await Promise.all(Array.from({ length: 6 }, () => requestVia(httpSock).then((r) => r.body)));
    expect(after).toContain('fresh');
    expect(fresh.hits.every((t) => t >= enabledAt)).toBe(true);
  });

  it('adding warm adopts the server as it must stand: a serving one is drained, a half-added one leaves maintenance drained and checked', async () => {
    const p = await pod('serving');
    const s = spec(p);
    await lb.addMember(s);
    await waitHealth(s.name, 'healthy');
    await lb.addMember({ ...s, warm: true });
    expect(await member(s.name)).toMatchObject({ admin: 'drain', health: 'healthy' });
    await lb.addMember(s);
    expect(await member(s.name)).toMatchObject({ admin: 'ready', health: 'healthy' });

    const q = await pod('half');
    const h = spec(q);
    await lb.runtime.command(`add server web/${h.name} 127.0.0.1:${q.port} check inter 300ms rise 2 fall 2`);
    await lb.addMember({ ...h, warm: true });
    expect(await member(h.name)).toMatchObject({ admin: 'drain', health: 'pending' });
    await waitHealth(h.name, 'healthy');
    expect(q.hits).toEqual([]);
  });

  it('HAProxy fact: without `set server … health down` a new server takes traffic before any check ran', async () => {
    const anchor = await pod('anchor');
    await lb.addMember(spec(anchor, null));
    const eager = await pod('eager');
    const name = memberName(NODE, eager.address, eager.port);
    const [add, enH, en] = await lb.runtime.pipeline(
      [`add server web/${name} 127.0.0.1:${eager.port} check inter 10s rise 2 fall 2`, `enable health web/${name}`, `enable server web/${name}`],
      { oneLine: true },
    );
    expect([add!.trim(), enH, en]).toEqual(['New server registered.', '', '']);
    for (let i = 0; i < 6; i++) await requestVia(httpSock);
    expect(eager.healthChecks).toBe(0);
    expect(eager.hits.length).toBeGreaterThan(0);
    // …which is why podlb never calls UP-with-INI healthy:
    expect(await member(name)).toMatchObject({ health: 'pending', detail: 'UP, no check completed yet (INI)' });
  });

  it('a failing /healthz and a dead Pod go DOWN → unhealthy', async () => {
    const sick = await pod('sick');
    const dead = await pod('dead');
    await lb.addMember(spec(sick));
    await lb.addMember(spec(dead));
    await waitHealth(spec(sick).name, 'healthy');
    await waitHealth(spec(dead).name, 'healthy');
    sick.setHealthy(false);
    await dead.close();
    const s = await waitHealth(spec(sick).name, 'unhealthy');
    const d = await waitHealth(spec(dead).name, 'unhealthy');
    expect(s.detail).toMatch(/^L7STS, (DOWN|UP going down)$/);
    expect(d.detail).toMatch(/^(L4CON|L7RSP|SOCKERR), (DOWN|UP going down)$/);
    await waitFor('both DOWN', async () =>
      (await member(spec(sick).name))!.detail.endsWith('DOWN') && (await member(spec(dead).name))!.detail.endsWith('DOWN') ? true : undefined,
    );
  });

  it('a member without health check is unchecked and serves at once', async () => {
    const p = await pod('plain');
    await lb.addMember(spec(p, null));
    expect(await member(spec(p).name)).toMatchObject({ admin: 'ready', health: 'unchecked', detail: 'UP, no check' });
    expect(await requestVia(httpSock)).toEqual({ status: 200, body: 'plain' });
  });

  it('drain: no new requests reach the member while a long request on it finishes; enableMember undoes it', async () => {
    const a = await pod('a');
    const b = await pod('b');
    await lb.addMember(spec(a));
    await lb.addMember(spec(b));
    await waitHealth(spec(a).name, 'healthy');
    await waitHealth(spec(b).name, 'healthy');

    // Long requests until one is running on b (round robin: one of two).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const slow: Promise<{ status: number; body: string }>[] = [];
    for (let i = 0; i < 4 && b.hits.length === 0; i++) {
      slow.push(requestVia(httpSock, '/slow?ms=1500', agent));
      await sleep(50);
    }
    expect(b.hits.length).toBe(1);
    await lb.drainMember('web', spec(b).name);
    expect(await member(spec(b).name)).toMatchObject({ admin: 'drain', health: 'healthy' });

    const before = b.hits.length;
    const bodies = await Promise.all(Array.from({ length: 30 }, () => requestVia(httpSock).then((r) => r.body)));
    expect(bodies.every((x) => x === 'a')).toBe(true);
    expect(b.hits.length).toBe(before);
    const done = await Promise.all(slow);
    expect(done).toContainEqual({ status: 200, body: 'b' }); // the established request finished
    agent.destroy();

    await lb.enableMember('web', spec(b).name);
    expect(await member(spec(b).name)).toMatchObject({ admin: 'ready' });
    const again = await Promise.all(Array.from({ length: 6 }, () => requestVia(httpSock).then((r) => r.body)));
    expect(again).toContain('b');
    await expect(lb.enableMember('web', `${PREFIX}127.0.0.9_1`)).rejects.toMatchObject({ code: 'HAPROXY_MEMBER_MISSING', reply: 'No such server.' });
  });

  it('remove: works with a request still open (HAProxy refuses del, podlb shuts the sessions), and twice is fine', async () => {
    const p = await pod('busy');
    await lb.addMember(spec(p, null));
    const name = spec(p).name;
    const inflight = requestVia(httpSock, '/slow?ms=5000').catch((e: unknown) => e);
    await waitFor('request on busy', () => (p.hits.length > 0 ? true : undefined));
    await lb.drainMember('web', name);
    // What HAProxy says on its own:
    const [dis, del] = await lb.runtime.pipeline([`disable server web/${name}`, `del server web/${name}`]);
    expect([dis, del]).toEqual(['', 'Server still has connections attached to it, cannot remove it.']);
    const t0 = Date.now();
    await lb.removeMember('web', name);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await member(name)).toBeUndefined();
    await lb.removeMember('web', name); // absent: success
    await lb.removeMember('nope', name); // missing backend: nothing to remove
    await lb.drainMember('web', name); // absent: nothing can send it traffic
    const r = await inflight;
    expect(r).not.toEqual({ status: 200, body: 'busy' }); // cut by `shutdown sessions server`
  });

  it('lists only this node’s members and never touches another node’s', async () => {
    const mine = await pod('mine');
    const theirs = await pod('theirs');
    await lb.addMember(spec(mine, null));
    const other = memberName('node-b', theirs.address, theirs.port);
    await lb.runtime.pipeline([`add server web/${other} 127.0.0.1:${theirs.port}`, `enable server web/${other}`], { oneLine: true });

    const listing = await lb.listMembers(['web'], PREFIX);
    expect(listing.members.map((m) => m.name)).toEqual([spec(mine).name]);
    // A prefix that is a prefix of another node's name must not match it either.
    expect((await lb.listMembers(['web'], memberNamePrefix('node'))).members).toEqual([]);
    await lb.removeMember('web', spec(mine).name);
    const all = await lb.listMembers(['web'], 'podlb_');
    expect(all.members.map((m) => [m.name, m.admin])).toEqual([[other, 'ready']]);
  });

  it('a fresh instance (agent restart) adopts existing members; re-adding is a no-op, another address conflicts', async () => {
    const p = await pod('kept');
    const s = spec(p);
    await lb.addMember(s);
    await waitHealth(s.name, 'healthy');

    const restarted = new HaproxyInstance(hp.runtimeAddress);
    try {
      const { members } = await restarted.listMembers(['web'], PREFIX);
      expect(members).toEqual([{ backend: 'web', name: s.name, address: p.address, port: p.port, admin: 'ready', health: 'healthy', detail: 'L7OK' }]);
      const before = restarted.runtime.roundTrips;
      await restarted.addMember(s);
      // Only the look-ups (`get weight`, then the backend's state for the row it exists with):
      // no `health down` on a serving member.
      expect(restarted.runtime.roundTrips - before).toBe(2);
      expect(await member(s.name)).toMatchObject({ health: 'healthy', detail: 'L7OK' });
      const err = await restarted.addMember({ ...s, port: p.port + 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HaproxyCommandError);
      expect(err).toMatchObject({
        code: 'HAPROXY_MEMBER_CONFLICT',
        message: expect.stringContaining(`exists with address 127.0.0.1:${p.port}, not 127.0.0.1:${p.port + 1}`),
      });
    } finally {
      await restarted.close();
    }
  });

  it('an add interrupted after `add server` (left in maintenance) is completed the safe way by the next add', async () => {
    const p = await pod('half');
    const s = spec(p);
    await lb.runtime.command(`add server web/${s.name} 127.0.0.1:${p.port} check inter 300ms rise 2 fall 2`);
    expect(await member(s.name)).toMatchObject({ admin: 'maint' });
    await lb.addMember(s);
    expect(await member(s.name)).toMatchObject({ admin: 'ready', health: 'pending' });
    await waitHealth(s.name, 'healthy');
  });

  it('missing backends are reported, not thrown; adding to one is a clear error', async () => {
    const listing = await lb.listMembers(['web', 'nope', 'web'], PREFIX);
    expect(listing).toEqual({ members: [], missingBackends: ['nope'], identity: expect.stringMatching(/^pid \d+ started \d+$/) });
    const p = await pod('x');
    await expect(lb.addMember(spec(p, CHECK, 'nope'))).rejects.toMatchObject({
      name: 'HaproxyCommandError',
      code: 'HAPROXY_BACKEND_MISSING',
      reply: 'No such backend.', // HAProxy's reply to the look-up, `get weight nope/…`
    });
  });

  it('a static-algorithm backend refuses dynamic servers with a clear error', async () => {
    const p = await pod('x');
    const err = (await lb.addMember(spec(p, CHECK, 'static')).catch((e: unknown) => e)) as HaproxyCommandError;
    expect(err).toBeInstanceOf(HaproxyCommandError);
    expect(err.code).toBe('HAPROXY_BACKEND_NOT_DYNAMIC');
    expect(err.reply).toBe('Backend must use a dynamic load balancing to support dynamic servers.');
    expect(err.command).toMatch(
      /^add server static\/podlb_node-a_127\.0\.0\.1_\d+ 127\.0\.0\.1:\d+ id \d+ pool-max-conn -1 pool-purge-delay 5s check inter 300ms rise 2 fall 2$/,
    );
    expect(err.message).toMatch(/static load-balancing algorithm/);
    expect((await lb.listMembers(['static'], PREFIX)).members).toEqual([]);
  });

  it('an absent runtime socket is UnreachableError', async () => {
    const gone = new HaproxyInstance(`unix://${join(hp.dir, 'absent.sock')}`);
    const err = await gone.listMembers(['web'], PREFIX).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err).toMatchObject({ code: 'HAPROXY_UNREACHABLE', transient: true });
    await gone.close();
  });

  it('after an HAProxy restart the dynamic servers are gone and must be re-added', async () => {
    const p = await pod('survivor');
    await lb.addMember(spec(p));
    await waitHealth(spec(p).name, 'healthy');
    await hp.restart();
    // The kept connection died with the old process: the first call may see it, then reconnects.
    const listing = await lb.listMembers(['web'], PREFIX).catch(() => lb.listMembers(['web'], PREFIX));
    expect(listing).toEqual({ members: [], missingBackends: [], identity: expect.stringMatching(/^pid \d+ started \d+$/) });
    await lb.addMember(spec(p));
    await waitHealth(spec(p).name, 'healthy');
    expect(await requestVia(httpSock)).toEqual({ status: 200, body: 'survivor' });
  });

  it('measures: one command round trip and a pipelined batch of 50', async () => {
    const rt = new HaproxyRuntime(hp.runtimeAddress);
    await rt.command('show info'); // connect
    const n = 200;
    let t = performance.now();
    for (let i = 0; i < n; i++) await rt.command('show servers state web');
    const single = (performance.now() - t) / n;
    const batch = Array.from({ length: 50 }, () => 'show servers state web');
    t = performance.now();
    for (let i = 0; i < 20; i++) await rt.pipeline(batch);
    const piped = (performance.now() - t) / 20;
    const rts = rt.roundTrips;
    await rt.close();
    console.log(`haproxy runtime: one command ${single.toFixed(3)} ms; 50 commands pipelined ${piped.toFixed(3)} ms per batch (round trips counted: ${rts})`);
    expect(rts).toBe(1 + n + 20);
  });
});
