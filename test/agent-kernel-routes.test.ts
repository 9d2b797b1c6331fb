// Kernel routes against the real kernel: without netlink in the named namespace the reason
// reaches status (it used to stop at the log); in a namespace of its own (root) the blackholes
// follow what BIRD advertises, and only once BIRD took a config.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasReal } from '../src/lab/real-components.js';
import { NetnsSandbox } from '../src/lab/netns.js';
import { BLACKHOLE_METRIC, PODLB_RT_PROTOCOL } from '../src/netlink/index.js';
import { GATEWAY_HELD_CONDITION, KERNEL_CONDITION, KernelRoutesReconciler } from '../src/agent/kernel-routes.js';
import type { AgentSnapshot } from '../src/agent/snapshot.js';

const log = pino({ level: 'silent' });
const snap = {} as AgentSnapshot;

describe('KernelRoutesReconciler without netlink', () => {
  it('reports NetlinkUnavailable in status, and no gateways', async () => {
    const r = new KernelRoutesReconciler({
      nodeName: 'n1',
      netns: 'podlb-no-such-namespace',
      aggregates: () => ['10.244.1.0/24'],
      onChange: () => undefined,
      log,
    });
    r.open();
    expect(await r.gateways()).toBeUndefined();
    const res = await r.reconcile(snap, 1_000);
    expect(res.status?.conditions).toEqual([expect.objectContaining({ type: KERNEL_CONDITION, status: 'False', reason: 'NetlinkUnavailable' })]);
    expect(res.status?.conditions?.[0]?.message).toMatch(/netlink unavailable: .*podlb-no-such-namespace/);
    r.close();
  });
});

describe.runIf(hasReal('root'))('KernelRoutesReconciler in a namespace', () => {
  let sb: NetnsSandbox;
  let ns: string;
  let r: KernelRoutesReconciler;
  let aggregates: string[] | undefined;

  const ours = async (): Promise<string[]> =>
    (JSON.parse(await sb.exec(ns, 'ip', ['-j', 'route', 'show', 'proto', String(PODLB_RT_PROTOCOL), 'type', 'blackhole'])) as { dst: string }[])
      .map((x) => x.dst)
      .sort();

  beforeAll(async () => {
    sb = new NetnsSandbox();
    ns = await sb.addNetns('kr');
    const peer = await sb.addNetns('krpeer');
    await sb.veth({ ns, ifname: 'eth0', addrs: ['10.1.0.1/24'] }, { ns: peer, ifname: 'eth0', addrs: ['10.1.0.2/24'] });
    await sb.exec(ns, 'ip', ['route', 'add', 'default', 'via', '10.1.0.2']);
    r = new KernelRoutesReconciler({ nodeName: 'n1', netns: ns, aggregates: () => aggregates, onChange: () => undefined, log, holdDownMs: 30_000 });
    r.open();
  });

  afterAll(async () => {
    r?.close();
    await sb?.cleanup();
  });

  it('reads the default gateway', async () => {
    expect(await r.gateways()).toEqual({ v4: '10.1.0.2' });
  });

  it('reads the kernel again only after a route or link changed, and sees a change made just before the call', async () => {
    expect(await r.gateways()).toEqual({ v4: '10.1.0.2' });
    const before = r.netlinkRequests;
    for (let i = 0; i < 5; i++) expect(await r.gateways()).toEqual({ v4: '10.1.0.2' });
    expect(r.netlinkRequests).toBe(before);
    await sb.exec(ns, 'ip', ['route', 'replace', 'default', 'via', '10.1.0.3']);
    try {
      expect(await r.gateways()).toEqual({ v4: '10.1.0.3' });
      expect(r.netlinkRequests).toBeGreaterThan(before);
    } finally {
      await sb.exec(ns, 'ip', ['route', 'replace', 'default', 'via', '10.1.0.2']);
    }
    expect(await r.gateways()).toEqual({ v4: '10.1.0.2' });
  });

  it('touches nothing before BIRD took a config, then follows the advertised aggregates', async () => {
    await sb.exec(ns, 'ip', ['route', 'add', 'blackhole', '10.244.7.0/24', 'proto', String(PODLB_RT_PROTOCOL), 'metric', String(BLACKHOLE_METRIC)]);
    const waiting = await r.reconcile(snap, 1_000);
    expect(waiting.status?.conditions?.[0]).toMatchObject({ status: 'Unknown', reason: 'WaitingForBird' });
    // A previous agent's blackhole survives the restart until BIRD says what it advertises.
    expect(await ours()).toEqual(['10.244.7.0/24']);

    aggregates = ['10.244.1.0/24'];
    const synced = await r.reconcile(snap, 2_000);
    expect(synced.failed).toBeUndefined();
    expect(synced.status?.conditions?.[0]).toMatchObject({ type: KERNEL_CONDITION, status: 'True', reason: 'Synced' });
    expect(await ours()).toEqual(['10.244.1.0/24']);

    aggregates = [];
    await r.reconcile(snap, 3_000);
    expect(await ours()).toEqual([]);
  });

  it('a default route that vanishes is held for the hold-down, reported once, and dropped after it unless back', async () => {
    expect(await r.gateways(10_000)).toEqual({ v4: '10.1.0.2' });
    await sb.exec(ns, 'ip', ['route', 'del', 'default']);
    try {
      expect(await r.gateways(11_000)).toEqual({ v4: '10.1.0.2' });
      const held = await r.reconcile(snap, 11_000);
      expect(held.events?.map((e) => [e.type, e.reason])).toEqual([['Warning', 'GatewayHeld']]);
      expect(held.status?.conditions?.find((c) => c.type === GATEWAY_HELD_CONDITION)).toMatchObject({ status: 'True', reason: 'DefaultRouteMissing' });
      expect(held.nextWakeAt).toBe(41_000);
      expect(await r.gateways(20_000)).toEqual({ v4: '10.1.0.2' });
      expect((await r.reconcile(snap, 20_000)).events ?? []).toEqual([]);
      // Back within the hold: nothing changed for Gateway peers, and the report ends.
      await sb.exec(ns, 'ip', ['route', 'add', 'default', 'via', '10.1.0.2']);
      expect(await r.gateways(25_000)).toEqual({ v4: '10.1.0.2' });
      expect((await r.reconcile(snap, 25_000)).status?.conditions?.map((c) => c.type)).toEqual([KERNEL_CONDITION]);
      // Gone for longer than the hold: dropped.
      await sb.exec(ns, 'ip', ['route', 'del', 'default']);
      expect(await r.gateways(30_000)).toEqual({ v4: '10.1.0.2' });
      expect(await r.gateways(60_001)).toEqual({});
    } finally {
      await sb.exec(ns, 'ip', ['route', 'replace', 'default', 'via', '10.1.0.2']);
    }
  });
});
