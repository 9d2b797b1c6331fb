// Withdraw everything a node advertises (uninstall, or a node taken out of service): BIRD gets
// a configuration with no BGP peers and no exports, keeping its router id and the
// `podlb_device` protocol, so BIRD closes each session with a Cease and the ToR drops the
// node's routes at once; then podlb's blackhole routes (RT protocol 201) are removed.
//
// When it runs: only when the node stops advertising for good. A rolling update of the
// DaemonSet must not withdraw (BIRD's preStop asks for a graceful restart instead, and the
// ToR keeps the routes). Kubernetes does not tell a preStop hook or a SIGTERM handler why the
// Pod is being deleted (rolling update, `kubectl delete ds`, eviction look the same), so the
// operator says so: `kubectl -n podlb-system set env ds/podlb-agent PODLB_WITHDRAW_ON_STOP=true`
// (this itself rolls the Pods, gracefully, because the old Pods do not have the variable), then
// `kubectl delete` the DaemonSet: BIRD's preStop sees the variable and skips the graceful
// restart, so the kubelet's SIGTERM makes BIRD close its sessions with a Cease (the ToR drops
// the routes at once), and each agent withdraws on SIGTERM after its loop has stopped (so it
// cannot re-render the old config afterwards) and removes the blackholes, whether or not BIRD
// is still there to take the empty config. `kubectl drain` skips DaemonSet Pods, so draining alone withdraws
// nothing; `podlb withdraw` by hand is only useful while no agent runs on the node (a running
// agent re-renders its config at its next resync).
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { BirdApplier, type BirdApplyResult } from '../bgp/bird-apply.js';
import { BirdControl } from '../bgp/bird-control.js';
import { BIRD_DEVICE_PROTOCOL } from '../bgp/render.js';
import { BlackholeRoutes, Netlink, PODLB_RT_PROTOCOL } from '../netlink/index.js';
import { errorMessage } from '../util/errors.js';

export interface WithdrawOptions {
  bird: { socketPath: string; configPath: string };
  /** The node's network namespace when not running in it (the lab). */
  netns?: string;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
}

export interface WithdrawResult {
  bird: Pick<BirdApplyResult, 'result' | 'error'>;
  /** Blackhole prefixes removed, or why they could not be. */
  blackholesRemoved: string[];
  blackholeError?: string;
}

const ROUTER_ID = /^\s*router\s+id\s+(\d{1,3}(?:\.\d{1,3}){3})\s*;/m;

/** The config BIRD runs after a withdraw: same router id (read from the running file), no peers, no exports. */
export function withdrawnConfig(routerId: string | undefined): string {
  return `# Written by podlb withdraw: this node advertises nothing.\n${routerId ? `router id ${routerId};\n` : ''}\n${BIRD_DEVICE_PROTOCOL}\n`;
}

/** Both steps always run; an error in one is reported, not thrown, so the other still happens. */
export async function withdrawAll(opts: WithdrawOptions): Promise<WithdrawResult> {
  const { log } = opts;
  const current = await readFile(opts.bird.configPath, 'utf8').catch(() => '');
  const control = new BirdControl(opts.bird.socketPath, { timeoutMs: 5000 });
  let bird: WithdrawResult['bird'];
  let birdErr: unknown;
  try {
    const res = await new BirdApplier({ configPath: opts.bird.configPath, control }).apply(withdrawnConfig(ROUTER_ID.exec(current)?.[1]));
    bird = { result: res.result, ...(res.error ? { error: res.error } : {}) };
    birdErr = res.err;
  } finally {
    await control.close();
  }
  if (bird.result === 'Failed') log.error({ err: birdErr }, 'withdraw: BIRD did not take the empty configuration; its sessions may still advertise');
  else log.info({ result: bird.result }, 'withdraw: BIRD runs with no peers and no exports');

  const out: WithdrawResult = { bird, blackholesRemoved: [] };
  let nl: Netlink | undefined;
  try {
    nl = Netlink.open(opts.netns ? { netns: opts.netns } : {});
    const r = await new BlackholeRoutes(nl, { protocol: PODLB_RT_PROTOCOL }).sync([]);
    out.blackholesRemoved = r.removed;
    log.info({ removed: r.removed }, 'withdraw: podlb blackhole routes removed');
  } catch (err) {
    out.blackholeError = errorMessage(err);
    log.error({ err }, 'withdraw: could not remove blackhole routes');
  } finally {
    nl?.close();
  }
  return out;
}
