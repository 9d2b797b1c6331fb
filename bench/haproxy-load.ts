// What N agents polling during a rollout cost one real HAProxy 2.6: runtime-API commands and
// round trips per second, reply bytes, HAProxy's CPU (from /proc/<pid>/stat), old way vs new.
//
// HAProxy runs in a network namespace with a backend of BACKEND_SIZE servers of other nodes
// (no checks: they only make a listing long), restarted for each case. Each simulated agent is the real member
// reconciler (src/members) over its own runtime connection, run at the agent's cadence: it
// adds a wave of WAVE members (checked, inter 1 s, rise 2, against a TCP frontend that
// accepts), polls until all are healthy, keeps them PAUSE_MS, then replaces them by a new wave
// (the old Pods gone: removed), as a node does during a rolling update. Agents start spread
// over the first seconds; figures are taken over a window that opens once every agent has
// made first contact (one listing each, in both ways: what adoption after a restart needs).
// - new: targeted reads (one `show stat` per pending member), poll.ts's cadence, `show info`
//   every IDENTITY_CHECK_MS.
// - old: what podlb did before: `show servers state` of the whole backend every run and before
//   every add, reads every inter / 40 from (rise - 1) × inter on and every 25 ms past the
//   window (the formula is kept below, only here), a run every 2 s when idle.
// HAProxy's CPU includes the members' checks and the rollout's adds and removes, the same work
// in both ways; per member made ready, it compares what each way costs for the same result.
import pino from 'pino';
import { NetnsSandbox } from '../src/lab/netns.js';
import { startHaproxy, type HaproxyProcess } from '../src/lab/haproxy-process.js';
import { HaproxyInstance } from '../src/lb/haproxy-instance.js';
import { HaproxyRuntime } from '../src/lb/haproxy-runtime.js';
import { parseServersState, toObservedMember } from '../src/lb/haproxy-servers-state.js';
import { memberName } from '../src/lb/naming.js';
import type { HealthCheck, LbInstance, MemberSpec } from '../src/lb/provider.js';
import type { LbClassModel } from '../src/members/binding.js';
import type { DesiredMember } from '../src/members/plan.js';
import { MemberReconciler } from '../src/members/reconciler.js';
import { memberKey } from '../src/members/plan.js';
import { nextPendingPollMs, type PendingMember } from '../src/agent/poll.js';
import { jitter } from '../src/util/backoff.js';
import { processCpuSeconds } from './proc.js';

const BACKEND_SIZE = 5000;
const WAVE = 10;
const PAUSE_MS = 3000;
const RESYNC_MS = 2000;
/** How long agents may take to make first contact before the window opens anyway. */
const FIRST_CONTACT_LIMIT_MS = 45_000;
const SETTLE_MS = 2000;
const CHECK: HealthCheck = { intervalMs: 1000, rise: 2, fall: 3 };
const CHECK_PORT = 9000;

/** Counts what the client sends and what HAProxy answers. */
class CountingRuntime extends HaproxyRuntime {
  commands = 0;
  /** `show servers state`: the requests whose cost grows with the backend. */
  listings = 0;
  replyBytes = 0;
  override async pipeline(commands: readonly string[], options?: { timeoutMs?: number; oneLine?: boolean }): Promise<string[]> {
    this.commands += commands.length;
    for (const c of commands) if (c.startsWith('show servers state')) this.listings++;
    const r = await super.pipeline(commands, options);
    for (const x of r) this.replyBytes += x.length;
    return r;
  }
}

/** The old poll cadence, as src/agent/poll.ts had it (kept only to measure against). */
function oldDelayMs(hc: HealthCheck, sinceAddedMs: number | undefined, baseMs = 25): number {
  if (sinceAddedMs === undefined) return baseMs;
  const fast = Math.min(baseMs, Math.max(5, hc.intervalMs / 40));
  const windowStart = (hc.rise - 1) * hc.intervalMs - 2 * fast;
  const windowEnd = (hc.rise + 1) * hc.intervalMs;
  if (sinceAddedMs < windowStart) return windowStart - sinceAddedMs;
  if (sinceAddedMs <= windowEnd) return fast;
  return baseMs;
}

/** The old client: a listing of the whole backend per run and before each add; no targeted reads. */
function oldInstance(inst: HaproxyInstance, rt: HaproxyRuntime): LbInstance {
  return {
    id: inst.id,
    listMembers: async (backends, prefix) => {
      const replies = await rt.pipeline(backends.map((b) => `show servers state ${b}`));
      const members = replies.flatMap((r) => (parseServersState(r) ?? []).filter((row) => row.name.startsWith(prefix)).map(toObservedMember));
      return { members, missingBackends: [] };
    },
    addMember: async (m: MemberSpec) => {
      await rt.command(`show servers state ${m.backend}`);
      const srv = `${m.backend}/${m.name}`;
      const hc = m.healthCheck!;
      await rt.pipeline(
        [
          `add server ${srv} ${m.address}:${m.port} check inter ${hc.intervalMs}ms rise ${hc.rise} fall ${hc.fall}`,
          `enable health ${srv}`,
          `enable server ${srv}`,
          `set server ${srv} health down`,
        ],
        { oneLine: true },
      );
    },
    drainMember: (b, n) => inst.drainMember(b, n),
    enableMember: (b, n) => inst.enableMember(b, n),
    removeMember: (b, n) => inst.removeMember(b, n),
    close: () => rt.close(),
  };
}

type Way = 'old' | 'new';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sleeps, waking early (within 100 ms) when the case ends. */
async function interruptible(ms: number, ctl: { stop: boolean }): Promise<void> {
  const until = performance.now() + ms;
  while (!ctl.stop && performance.now() < until) await sleep(Math.min(100, until - performance.now()));
}

interface AgentStats {
  rt: CountingRuntime;
  waves: number[];
  /** Its first run (first contact: a listing in both ways) is done. */
  started: boolean;
}

/** One simulated agent: the member reconciler at the agent's cadence, wave after wave. */
async function runAgent(i: number, way: Way, address: string, ctl: { stop: boolean }, stats: AgentStats): Promise<void> {
  const node = `sim-${i}`;
  const cls: LbClassModel = {
    name: 'c',
    provider: 'haproxy',
    instances: [address],
    healthCheck: CHECK,
    withoutHealthCheck: 'Immediate',
    timeoutSeconds: 600,
    preRegister: true,
  };
  const classes = new Map([['c', cls]]);
  const rt = stats.rt;
  const reconciler = new MemberReconciler({
    nodeName: node,
    makeInstance: (ref) => {
      const inst = new HaproxyInstance(ref.id, { runtime: rt });
      return way === 'new' ? inst : oldInstance(inst, rt);
    },
    log: pino({ level: 'silent' }),
  });
  const addedAt = new Map<string, number>();
  let generation = 0;
  const wave = (): DesiredMember[] =>
    Array.from({ length: WAVE }, (_, k) => {
      const address = `127.${1 + (i >> 8)}.${i & 255}.${1 + ((generation * WAVE + k) % 250)}`;
      return {
        className: 'c',
        backend: 'web',
        name: memberName(node, address, CHECK_PORT),
        address,
        port: CHECK_PORT,
        healthCheck: CHECK,
        pod: { namespace: 'sim', name: `${node}-${generation}-${k}`, uid: `${node}-${generation}-${k}` },
        service: { namespace: 'sim', name: 'svc' },
        state: 'active' as const,
        drainSeconds: 0,
      };
    });
  let desired = wave();
  let waveStart = performance.now();
  let doneAt: number | undefined;
  await sleep(Math.random() * 3000);
  try {
    while (!ctl.stop) {
      const out = await reconciler.reconcile(classes, desired, new Set(desired.map((m) => m.address)), Date.now());
      stats.started = true;
      const t = performance.now();
      for (const k of out.added) if (!addedAt.has(k)) addedAt.set(k, t);
      const waiting = desired.filter((m) => !out.views.get(memberKey(m.backend, m.name))?.healthy);
      if (waiting.length === 0 && doneAt === undefined) {
        doneAt = t;
        stats.waves.push(t - waveStart);
      }
      if (doneAt !== undefined && t >= doneAt + PAUSE_MS) {
        generation++;
        addedAt.clear();
        desired = wave();
        waveStart = performance.now();
        doneAt = undefined;
        continue;
      }
      const pending: PendingMember[] = waiting.map((m) => {
        const a = addedAt.get(memberKey(m.backend, m.name));
        return { healthCheck: CHECK, ...(a !== undefined ? { sinceAddedMs: t - a } : {}) };
      });
      let pollIn: number | undefined;
      if (way === 'new') pollIn = nextPendingPollMs(pending, 1000, Math.random);
      else if (pending.length > 0) pollIn = jitter(Math.min(...pending.map((p) => oldDelayMs(CHECK, p.sinceAddedMs))), [0.8, 1], Math.random);
      const wakes = [RESYNC_MS, ...(pollIn !== undefined ? [pollIn] : []), ...(out.nextWakeAt !== undefined ? [out.nextWakeAt - Date.now()] : [])];
      if (doneAt !== undefined) wakes.push(doneAt + PAUSE_MS - t);
      await interruptible(Math.max(0, Math.min(...wakes)), ctl);
    }
  } finally {
    await reconciler.close();
  }
}

async function haproxyPid(address: string): Promise<number> {
  const rt = new HaproxyRuntime(address);
  const info = await rt.command('show info');
  await rt.close();
  return Number(/^Pid: (\d+)$/m.exec(info)![1]);
}

interface CaseResult {
  commandsPerSec: number;
  listingsPerSec: number;
  roundTripsPerSec: number;
  replyKBPerSec: number;
  haproxyCpuPct: number;
  agentsCpuPct: number;
  wavesCompleted: number;
  waveToAllHealthyMs: number;
  firstContactMs: number;
  startedAgents: number;
  windowSecs: number;
}

async function runCase(hp: HaproxyProcess, way: Way, n: number, seconds: number): Promise<CaseResult> {
  await hp.restart();
  const pid = await haproxyPid(hp.runtimeAddress);
  const ctl = { stop: false };
  const stats: AgentStats[] = Array.from({ length: n }, () => ({
    rt: new CountingRuntime(hp.runtimeAddress, { timeoutMs: 120_000 }),
    waves: [],
    started: false,
  }));
  const runs = stats.map((s, i) => runAgent(i, way, hp.runtimeAddress, ctl, s));
  // Every agent's first contact (one listing each, both ways) is start-up, not rollout.
  const w = performance.now();
  while (stats.some((s) => !s.started) && performance.now() - w < FIRST_CONTACT_LIMIT_MS) await sleep(100);
  const firstContactMs = performance.now() - w;
  const startedAgents = stats.filter((s) => s.started).length;
  await sleep(SETTLE_MS);
  const sum = (f: (s: AgentStats) => number): number => stats.reduce((a, s) => a + f(s), 0);
  const c0 = sum((s) => s.rt.commands);
  const l0 = sum((s) => s.rt.listings);
  const r0 = sum((s) => s.rt.roundTrips);
  const b0 = sum((s) => s.rt.replyBytes);
  const w0 = stats.map((s) => s.waves.length);
  const cpu0 = processCpuSeconds(pid);
  const me0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const secs = (performance.now() - t0) / 1000;
  const cpu = (processCpuSeconds(pid) - cpu0) / secs;
  const me = process.cpuUsage(me0);
  const waves = stats.flatMap((s, i) => s.waves.slice(w0[i]));
  const res: CaseResult = {
    commandsPerSec: (sum((s) => s.rt.commands) - c0) / secs,
    listingsPerSec: (sum((s) => s.rt.listings) - l0) / secs,
    roundTripsPerSec: (sum((s) => s.rt.roundTrips) - r0) / secs,
    replyKBPerSec: (sum((s) => s.rt.replyBytes) - b0) / 1024 / secs,
    haproxyCpuPct: cpu * 100,
    agentsCpuPct: ((me.user + me.system) / 1e6 / secs) * 100,
    wavesCompleted: waves.length,
    waveToAllHealthyMs: waves.reduce((a, b) => a + b, 0) / Math.max(1, waves.length),
    firstContactMs,
    startedAgents,
    windowSecs: secs,
  };
  ctl.stop = true;
  await Promise.all(runs);
  await Promise.all(stats.map((s) => s.rt.close()));
  return res;
}

const r1 = (x: number): number => Number(x.toFixed(1));

/** A per-second figure of a case, per member that went from added to healthy in its window. */
function perMember(r: CaseResult, perSec: number): number {
  const membersPerSec = (r.wavesCompleted * WAVE) / r.windowSecs;
  return membersPerSec > 0 ? perSec / membersPerSec : Number.POSITIVE_INFINITY;
}

export async function benchHaproxyLoad(opts: { agents?: number[]; seconds?: number } = {}): Promise<Record<string, unknown>> {
  const agents = opts.agents ?? [100, 1000];
  const seconds = opts.seconds ?? 15;
  const sb = new NetnsSandbox();
  try {
    const ns = await sb.addNetns('lbload');
    const hp = await startHaproxy(sb, ns, {
      dir: sb.tempDir('lbload'),
      backends: [],
      statsMaxconn: 4000,
      extraSections: [
        // Other nodes' servers, from the configuration (adding 5,000 at run time takes ~5 s).
        `backend web\n  balance roundrobin\n  server-template other 1-${BACKEND_SIZE} 10.20.0.1:8080`,
        // What the checks connect to: accepted by the kernel (L4OK), closed at once.
        `frontend checked\n  mode tcp\n  bind 0.0.0.0:${CHECK_PORT}\n  tcp-request connection reject`,
      ],
    });
    const result: Record<string, unknown> = {
      setup: `backend of ${BACKEND_SIZE} servers; each agent: waves of ${WAVE} members, check inter ${CHECK.intervalMs} ms rise ${CHECK.rise}, ${PAUSE_MS} ms between waves; a ${seconds} s window once every agent made first contact (+${SETTLE_MS / 1000} s)`,
    };
    for (const n of agents) {
      // The checks cost the same in both ways, and are not measured apart: adding 10,000
      // checked servers with nobody polling took this HAProxy 2.6 over 2 minutes.
      const old = await runCase(hp, 'old', n, seconds);
      const neu = await runCase(hp, 'new', n, seconds);
      const ratio = (a: number, b: number): number => r1(a / Math.max(b, 1e-9));
      const row = (r: CaseResult): Record<string, number> => ({
        commandsPerSec: r1(r.commandsPerSec),
        backendListingsPerSec: r1(r.listingsPerSec),
        roundTripsPerSec: r1(r.roundTripsPerSec),
        replyKBPerSec: r1(r.replyKBPerSec),
        haproxyCpuPct: r1(r.haproxyCpuPct),
        agentsCpuPct: r1(r.agentsCpuPct),
        wavesCompleted: r.wavesCompleted,
        waveToAllHealthyMs: Math.round(r.waveToAllHealthyMs),
        // Per member taken from added to healthy: the old way cannot keep up, so raw rates undercount its cost.
        commandsPerMemberReady: r1(perMember(r, r.commandsPerSec)),
        haproxyCpuMsPerMemberReady: r1(perMember(r, (r.haproxyCpuPct / 100) * 1000)),
        firstContactOfAllAgentsMs: Math.round(r.firstContactMs),
        agentsStarted: r.startedAgents,
      });
      result[`agents${n}`] = {
        old: row(old),
        new: row(neu),
        oldOverNew: {
          backendListingsPerSec: old.listingsPerSec > 0 && neu.listingsPerSec === 0 ? 'all vs none' : ratio(old.listingsPerSec, neu.listingsPerSec),
          commandsPerSec: ratio(old.commandsPerSec, neu.commandsPerSec),
          replyBytesPerSec: ratio(old.replyKBPerSec, neu.replyKBPerSec),
          haproxyCpu: ratio(old.haproxyCpuPct, neu.haproxyCpuPct),
          replyBytesPerMemberReady: ratio(perMember(old, old.replyKBPerSec), perMember(neu, neu.replyKBPerSec)),
          haproxyCpuPerMemberReady: ratio(perMember(old, old.haproxyCpuPct), perMember(neu, neu.haproxyCpuPct)),
          waveToAllHealthy: ratio(old.waveToAllHealthyMs, neu.waveToAllHealthyMs),
        },
      };
      console.log(`  ${n} agents: ${JSON.stringify(result[`agents${n}`])}`);
    }
    await hp.stop();
    return result;
  } finally {
    await sb.cleanup();
  }
}
