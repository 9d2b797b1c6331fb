// The fake Octavia's amphora (testkit/octavia-fake/amphora.ts) against a real HAProxy 2.6 in
// the root namespace, "Pods" on 127.0.0.1: traffic reaches only the members Octavia would send
// it to, a weight-0 member is still checked (DRAINING while it passes, ERROR once it fails), a
// change reaches the data plane only once the provider finished it, and admin down is OFFLINE.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHaproxy, type HaproxyProcess } from '../src/lab/haproxy-process.js';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { HaproxyRuntime } from '../src/lb/haproxy-runtime.js';
import { startAmphora, type Amphora } from '../testkit/octavia-fake/amphora.js';
import { OctaviaFakeState } from '../testkit/octavia-fake/state.js';
import { requestVia, startPod, type TestPod } from '../testkit/haproxy-pods.js';

const PENDING_MS = 300;

let sb: NetnsSandbox;
let hp: HaproxyProcess;
let runtime: HaproxyRuntime;
let state: OctaviaFakeState;
let amphora: Amphora;
let httpSock: string;
let poolId = '';
let a: TestPod;
let b: TestPod;

beforeAll(async () => {
  sb = new NetnsSandbox();
  const dir = sb.tempDir('amphora');
  httpSock = join(dir, 'http.sock');
  // The pool's monitor is an HTTP check on the Pods' /healthz.
  hp = await startHaproxy(sb, null, {
    dir,
    backends: [{ name: 'pool', httpCheckPath: '/healthz' }],
    frontends: [{ name: 'vip', bind: `unix@${httpSock}`, backend: 'pool' }],
  });
  runtime = new HaproxyRuntime(hp.runtimeAddress);
  state = new OctaviaFakeState({ pendingMs: PENDING_MS, heartbeatMs: null });
  const lb = state.createLoadBalancer({ name: 'l7lb' });
  poolId = state.createPool(lb.id, { name: 'web', healthMonitor: { delay: 0.1, max_retries: 2, max_retries_down: 2 } }).id;
  amphora = startAmphora({ state, poolId, runtime, backend: 'pool', heartbeatMs: 50 });
  a = await startPod('a');
  b = await startPod('b');
});

afterAll(async () => {
  await amphora?.stop();
  state?.close();
  await runtime?.close();
  await hp?.stop();
  for (const p of [a, b]) await p?.close();
  await sb?.cleanup();
});

const status = (id: string): string | undefined => state.members.get(id)?.operating_status;
const until = (what: string, f: () => boolean): Promise<true> => waitFor(what, () => (f() ? true : undefined), 10_000, 20);

async function send(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await requestVia(httpSock)).body);
  return out;
}

describe('the fake Octavia amphora on a real HAProxy', () => {
  it('a weight-0 member takes no request but is checked: DRAINING, then ERROR when it fails, OFFLINE when admin down', async () => {
    const ma = state.createMember(poolId, { address: a.address, protocol_port: a.port, weight: 1 });
    // PENDING_CREATE: not on the amphora, so OFFLINE and no traffic.
    await amphora.tick();
    expect(status(ma.id)).toBe('OFFLINE');
    expect((await requestVia(httpSock)).status).toBe(503);
    await until('a ONLINE', () => status(ma.id) === 'ONLINE');
    await new Promise((r) => setTimeout(r, PENDING_MS + 50)); // the lock of a's create is over
    const mb = state.createMember(poolId, { address: b.address, protocol_port: b.port, weight: 0 });
    await until('b DRAINING (UP at weight 0: checks run)', () => status(mb.id) === 'DRAINING');
    const checksBefore = b.healthChecks;
    expect(new Set(await send(20))).toEqual(new Set(['a']));
    expect(b.hits).toEqual([]);
    await until('b checked at weight 0', () => b.healthChecks >= checksBefore + 2);

    b.setHealthy(false);
    await until('b ERROR (DOWN at weight 0)', () => status(mb.id) === 'ERROR');
    b.setHealthy(true);
    await until('b DRAINING again', () => status(mb.id) === 'DRAINING');

    // A weight change is on the amphora only once the provider finished it.
    state.updateMember(poolId, mb.id, { weight: 1 });
    await amphora.tick();
    expect(new Set(await send(10))).toEqual(new Set(['a']));
    await until('b ONLINE', () => status(mb.id) === 'ONLINE');
    expect(new Set(await send(10))).toEqual(new Set(['a', 'b']));

    await new Promise((r) => setTimeout(r, PENDING_MS + 50));
    state.updateMember(poolId, mb.id, { admin_state_up: false });
    await until('b OFFLINE (admin down: maintenance)', () => status(mb.id) === 'OFFLINE');
    const hits = b.hits.length;
    expect(new Set(await send(10))).toEqual(new Set(['a']));
    expect(b.hits.length).toBe(hits);
    expect(await amphora.serving()).toBe(1);
  });
});
