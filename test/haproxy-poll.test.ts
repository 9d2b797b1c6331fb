// The member reconciler's health poll against a real HAProxy 2.6 whose backend holds many
// servers of other nodes: a poll asks about this node's pending members only (one `show stat`
// per member, one round trip), says what a full listing says, and a restarted HAProxy is
// noticed with `show info` alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { startHaproxy, type HaproxyProcess } from '../src/lab/haproxy-process.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { HaproxyRuntime } from '../src/lb/haproxy-runtime.js';
import { memberName, memberNamePrefix } from '../src/lb/naming.js';
import type { ObservedMember } from '../src/lb/provider.js';
import type { LbClassModel } from '../src/members/binding.js';
import { IDENTITY_CHECK_MS } from '../src/members/observe.js';
import type { DesiredMember } from '../src/members/plan.js';
import { MemberReconciler } from '../src/members/reconciler.js';
import { startPod, type TestPod } from '../testkit/haproxy-pods.js';

const NODE = 'node-a';
const PREFIX = memberNamePrefix(NODE);
const OTHERS = 3000;
const CHECK = { intervalMs: 200, rise: 2, fall: 2 };

/** Records every batch the client sends. */
class RecordingRuntime extends HaproxyRuntime {
  readonly sent: string[][] = [];
  override pipeline(commands: readonly string[], options?: { timeoutMs?: number; oneLine?: boolean }): Promise<string[]> {
    this.sent.push([...commands]);
    return super.pipeline(commands, options);
  }
}

let sb: NetnsSandbox;
let hp: HaproxyProcess;
let rt: RecordingRuntime;
let reconciler: MemberReconciler;
let pods: TestPod[] = [];
const cls: LbClassModel = { name: 'l7lb', provider: 'haproxy', instances: [], withoutHealthCheck: 'Immediate', timeoutSeconds: 600, preRegister: true };

function desired(p: TestPod, i: number): DesiredMember {
  return {
    className: 'l7lb',
    backend: 'web',
    name: memberName(NODE, p.address, p.port),
    address: p.address,
    port: p.port,
    healthCheck: CHECK,
    pod: { namespace: 'ads', name: `p${i}`, uid: `uid-${i}` },
    service: { namespace: 'ads', name: 'bidder' },
    state: 'active',
    drainSeconds: 0,
  };
}

const health = (ms: readonly ObservedMember[]): Record<string, string> => Object.fromEntries(ms.map((m) => [m.name, `${m.admin}/${m.health}`]));

/** The commands of the batches sent while `fn` ran. */
async function sentDuring(fn: () => Promise<unknown>): Promise<string[][]> {
  const before = rt.sent.length;
  await fn();
  return rt.sent.slice(before);
}

beforeAll(async () => {
  sb = new NetnsSandbox();
  hp = await startHaproxy(sb, null, { dir: sb.tempDir('hapoll'), backends: [{ name: 'web', httpCheckPath: '/healthz' }] });
  cls.instances = [hp.runtimeAddress];
  const admin = new HaproxyRuntime(hp.runtimeAddress);
  // Other nodes' members: many, so a listing is expensive and a per-server read is not.
  const adds = Array.from(
    { length: OTHERS },
    (_, i) => `add server web/${memberName(`node-${i}`, `10.9.${i >> 8}.${i & 255}`, 8080)} 10.9.${i >> 8}.${i & 255}:8080`,
  );
  await admin.pipeline(adds);
  await admin.close();
  pods = await Promise.all(Array.from({ length: 10 }, (_, i) => startPod(`p${i}`)));
  pods[8]!.setHealthy(false);
  pods[9]!.setHealthy(false);
  rt = new RecordingRuntime(hp.runtimeAddress);
  reconciler = new MemberReconciler({
    nodeName: NODE,
    makeInstance: (ref) => new HaproxyInstance(ref.id, { runtime: rt }),
    log: pino({ level: 'silent' }),
    random: () => 0.5,
  });
});

afterAll(async () => {
  await reconciler?.close();
  await Promise.all(pods.map((p) => p.close()));
  await sb?.cleanup();
});

describe('health poll on HAProxy 2.6 with a backend of many servers', () => {
  const classes = (): Map<string, LbClassModel> => new Map([['l7lb', cls]]);
  const plan = (): DesiredMember[] => pods.map(desired);
  const ips = (): Set<string> => new Set(['127.0.0.1']);

  it('asks only about the pending members, per server, and answers as the full listing does', async () => {
    let now = 1_000_000;
    const first = await sentDuring(() => reconciler.reconcile(classes(), plan(), ips(), now));
    // First contact lists the backend once (adoption and GC need it), then adds.
    expect(first[0]).toEqual(['show info', 'show servers state web']);
    expect(first.flat().filter((c) => c.startsWith('add server'))).toHaveLength(10);

    now += 100; // identity not due: a poll is the per-server reads, in one round trip
    const poll = await sentDuring(() => reconciler.reconcile(classes(), plan(), ips(), now));
    expect(poll).toHaveLength(1);
    expect(poll[0]).toHaveLength(10);
    for (const c of poll[0]!) expect(c).toMatch(/^show stat \d+ 4 \d+$/);

    // Same answers as a listing, read between two listings that agree (checks run meanwhile).
    const lb = new HaproxyInstance(hp.runtimeAddress);
    const asked = plan().map((m) => ({ backend: m.backend, name: m.name, withHealthCheck: true }));
    const reader = new HaproxyInstance(hp.runtimeAddress);
    await reader.listMembers(['web'], PREFIX); // learns the ids, as the reconciler's first run did
    const compare = async (): Promise<{ listed: Record<string, string>; read: Record<string, string> } | undefined> => {
      const a = health((await lb.listMembers(['web'], PREFIX)).members);
      const read = health((await reader.readMembers(asked, { identity: false })).members);
      const b = health((await lb.listMembers(['web'], PREFIX)).members);
      return JSON.stringify(a) === JSON.stringify(b) ? { listed: a, read } : undefined;
    };
    const pending = await waitFor('two agreeing listings', compare, 5000, 1);
    expect(pending.read).toEqual(pending.listed);
    const settled = await waitFor(
      'healthy and unhealthy members',
      async () => {
        const c = await compare();
        return c &&
          Object.values(c.listed).filter((h) => h === 'ready/healthy').length === 8 &&
          Object.values(c.listed).filter((h) => h === 'ready/unhealthy').length === 2
          ? c
          : undefined;
      },
      10_000,
    );
    expect(settled.read).toEqual(settled.listed);
    await lb.close();
    await reader.close();

    // The reconciler sees it too, and then asks only about the two still unhealthy.
    now += 100;
    const out = await reconciler.reconcile(classes(), plan(), ips(), now);
    expect([...out.views.values()].filter((v) => v.healthy)).toHaveLength(8);
    now += 100;
    const later = await sentDuring(() => reconciler.reconcile(classes(), plan(), ips(), now));
    expect(later).toEqual([[expect.stringMatching(/^show stat /), expect.stringMatching(/^show stat /)]]);
  });

  it('with nothing pending: no member read at all, only `show info` when due; a restart is noticed by it', async () => {
    pods[8]!.setHealthy(true);
    pods[9]!.setHealthy(true);
    let now = 2_000_000;
    const advance = (ms: number): number => {
      now += ms;
      return now;
    };
    await waitFor(
      'all healthy',
      async () => {
        const out = await reconciler.reconcile(classes(), plan(), ips(), advance(100));
        return [...out.views.values()].every((v) => v.healthy) ? true : undefined;
      },
      10_000,
    );
    // The identity check just ran (now is far past its due time): nothing is sent until it is due again.
    expect(await sentDuring(() => reconciler.reconcile(classes(), plan(), ips(), advance(100)))).toEqual([]);
    expect(await sentDuring(() => reconciler.reconcile(classes(), plan(), ips(), advance(IDENTITY_CHECK_MS)))).toEqual([['show info']]);

    await hp.restart();
    now += IDENTITY_CHECK_MS;
    // The kept connection died with the old process: the first run may fail on it and back off.
    const sent = await sentDuring(async () => {
      const out = await reconciler.reconcile(classes(), plan(), ips(), now);
      if (out.instances.some((x) => !x.reachable)) await reconciler.reconcile(classes(), plan(), ips(), advance(60_000));
    });
    const cmds = sent.flat();
    expect(cmds).toContain('show info');
    expect(cmds).toContain('show servers state web');
    expect(cmds.filter((c) => c.startsWith('add server'))).toHaveLength(10);
    const lb = new HaproxyInstance(hp.runtimeAddress);
    expect((await lb.listMembers(['web'], PREFIX)).members).toHaveLength(10);
    await lb.close();
  });
});
