// A data plane for the fake: an amphora, i.e. what Octavia programs into the amphora's HAProxy
// for one pool, played on a real HAProxy 2.6 backend through its runtime API, and the
// amphora's heartbeat read back from that HAProxy into the members' operating_status. With it,
// traffic through the backend reaches exactly the members Octavia would send it to.
//
// Reference (openstack/octavia at 01a3ed55):
// - One `server` line per member (octavia/common/jinja/haproxy/combined_listeners/templates/
//   macros.j2, member_macro): `server <member id> <address>:<port> weight <weight>`, plus
//   `check inter <delay>s fall <max_retries_down> rise <max_retries>` when the pool has a monitor,
//   plus `disabled` when admin_state_up is false. So a weight-0 member is a server HAProxy still
//   checks but sends no new request to (HAProxy's `weight`: 0 takes no load-balanced traffic),
//   and an admin-down member is in maintenance (no traffic, no checks).
// - The amphora gets a member's configuration when the provider has applied the change: a
//   PENDING_CREATE member is not on it yet, a PENDING_UPDATE one still has its previous
//   weight and admin state, a PENDING_DELETE one is still there (state.ts finishes them).
// - HAProxy starts a server it is given UP, before any check ran (health.ts): so does this one
//   (`add server` + `enable health` + `enable server`, no forced `health down`).
// - The heartbeat's mapping (health.ts, heartbeat_udp.py:592-617): MAINT → OFFLINE, DOWN →
//   ERROR, UP at weight 0 → DRAINING, UP → ONLINE, no monitor → NO_MONITOR; a member not on the
//   amphora → OFFLINE.
// Start the fake with `heartbeatMs: null`: this heartbeat replaces its simulated one.
import type { HaproxyRuntime } from '../../src/lb/haproxy-runtime.js';
import { adminOf, parseServersState, SRV_ST_STOPPED, type ServerStateRow } from '../../src/lb/haproxy-servers-state.js';
import type { FakeMember, OctaviaFakeState, OperatingStatus } from './state.js';

export interface AmphoraOptions {
  state: OctaviaFakeState;
  poolId: string;
  /**
   * The amphora's HAProxy and the backend that stands for the pool; its `option httpchk` is the
   * monitor's HTTP check (the fake's monitor objects do not model url_path).
   */
  runtime: HaproxyRuntime;
  backend: string;
  /** How often the amphora applies the pool and sends a heartbeat (Octavia: 10 s heartbeats). */
  heartbeatMs?: number;
}

interface Programmed {
  address: string;
  port: number;
  weight: number;
  enabled: boolean;
}

export interface Amphora {
  /** The last changes HAProxy refused (retried on the next tick), for a failure's message. */
  errors(): readonly string[];
  /** Members that take new requests now: on the amphora, UP, not in maintenance, weight > 0. */
  serving(): Promise<number>;
  /** Applies the pool and reports once, now (also runs every heartbeatMs). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export function startAmphora(o: AmphoraOptions): Amphora {
  const programmed = new Map<string, Programmed>();
  const srv = (id: string): string => `${o.backend}/${id}`;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();

  const rows = async (): Promise<ServerStateRow[]> => parseServersState(await o.runtime.command(`show servers state ${o.backend}`)) ?? [];

  const onAmphora = (m: FakeMember): boolean => m.provisioning_status !== 'PENDING_CREATE' && m.provisioning_status !== 'ERROR';

  async function run(cmds: string[]): Promise<void> {
    if (cmds.length === 0) return;
    const replies = await o.runtime.pipeline(cmds, { oneLine: true });
    cmds.forEach((c, i) => {
      const r = replies[i]!.trim();
      if (r !== '' && !r.startsWith('New server registered') && !r.startsWith('Server deleted')) throw new Error(`amphora: ${c}: ${r}`);
    });
  }

  // One member's change failing (HAProxy refuses `del server` while the server still has
  // connections) must not hold back the others: it is tried again on the next tick.
  const errors: string[] = [];
  async function each(id: string, f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (err) {
      errors.push(`${id}: ${err instanceof Error ? err.message : String(err)}`);
      errors.splice(0, errors.length - 20);
    }
  }

  async function apply(): Promise<void> {
    const hm = monitorOf(o.state, o.poolId);
    const members = new Map(
      o.state
        .membersOf(o.poolId)
        .filter(onAmphora)
        .map((m) => [m.id, m]),
    );
    for (const id of [...programmed.keys()]) {
      if (members.has(id)) continue;
      await each(id, async () => {
        await run([`set server ${srv(id)} state maint`, `del server ${srv(id)}`]);
        programmed.delete(id);
      });
    }
    for (const m of members.values()) {
      const want: Programmed = { address: m.address, port: m.protocol_port, weight: m.weight, enabled: m.admin_state_up };
      const had = programmed.get(m.id);
      // A change the provider has not finished is not on the amphora yet.
      if (had && m.provisioning_status !== 'ACTIVE') continue;
      await each(m.id, async () => {
        if (!had) {
          const add = [`add server ${srv(m.id)} ${m.address}:${m.protocol_port} weight ${m.weight}`];
          if (hm) add[0] += ` check inter ${Math.round(hm.delay * 1000)}ms fall ${hm.max_retries_down} rise ${hm.max_retries}`;
          await run([...add, ...(hm ? [`enable health ${srv(m.id)}`] : []), ...(want.enabled ? [`enable server ${srv(m.id)}`] : [])]);
          programmed.set(m.id, want);
          return;
        }
        const cmds: string[] = [];
        if (had.weight !== want.weight) cmds.push(`set server ${srv(m.id)} weight ${want.weight}`);
        if (had.enabled !== want.enabled) cmds.push(`set server ${srv(m.id)} state ${want.enabled ? 'ready' : 'maint'}`);
        await run(cmds);
        programmed.set(m.id, want);
      });
    }
  }

  async function heartbeat(): Promise<void> {
    const hm = monitorOf(o.state, o.poolId);
    const byName = new Map((await rows()).map((r) => [r.name, r]));
    for (const m of o.state.membersOf(o.poolId)) {
      const r = byName.get(m.id);
      const p = programmed.get(m.id);
      let status: OperatingStatus;
      if (!r || !p) status = m.operating_status === 'NO_MONITOR' ? 'NO_MONITOR' : 'OFFLINE';
      else if (adminOf(r) === 'maint') status = 'OFFLINE';
      else if (!hm) status = 'NO_MONITOR';
      else if (r.opState === SRV_ST_STOPPED) status = 'ERROR';
      else status = p.weight === 0 ? 'DRAINING' : 'ONLINE';
      if (m.operating_status !== status) o.state.setOperatingStatus(m.id, status);
    }
  }

  const tick = (): Promise<void> => {
    const next = running.then(async () => {
      if (stopped) return;
      await apply();
      await heartbeat();
    });
    // A failed tick (the runtime API unreachable for a moment) must not stop the ones after it.
    running = next.catch((err: unknown) => {
      errors.push(`tick: ${err instanceof Error ? err.message : String(err)}`);
    });
    return next;
  };

  const timer = setInterval(() => void tick().catch(() => undefined), o.heartbeatMs ?? 100);
  return {
    tick,
    errors: () => [...errors],
    async serving() {
      const live = await rows();
      return live.filter((r) => adminOf(r) !== 'maint' && r.opState !== SRV_ST_STOPPED && (programmed.get(r.name)?.weight ?? 0) > 0).length;
    },
    async stop() {
      clearInterval(timer);
      stopped = true;
      await running;
    },
  };
}

function monitorOf(state: OctaviaFakeState, poolId: string): { delay: number; max_retries: number; max_retries_down: number } | undefined {
  const pool = state.pools.get(poolId);
  return pool?.healthmonitor_id ? state.healthMonitors.get(pool.healthmonitor_id) : undefined;
}
