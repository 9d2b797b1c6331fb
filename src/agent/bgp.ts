// The agent's BGP reconcilers, in the order they run: the config, then session state, then the
// kernel routes that follow the config.
import type { Logger } from 'pino';
import { BirdControl } from '../bgp/bird-control.js';
import type { Reconciler } from '../reconcile/reconciler.js';
import { BgpSessionsReconciler } from './bgp-sessions.js';
import { BirdConfigReconciler } from './bird-config.js';
import { KernelRoutesReconciler } from './kernel-routes.js';
import type { AgentMetrics } from './metrics.js';
import type { NodeStatusContribution } from './node-status.js';
import type { AgentOptions } from './options.js';
import type { AgentSnapshot } from './snapshot.js';

export interface AgentBgp {
  reconcilers: Reconciler<AgentSnapshot, NodeStatusContribution>[];
  control: BirdControl;
  kernel: KernelRoutesReconciler | undefined;
}

export interface AgentBgpDeps {
  metrics: AgentMetrics;
  /** A logger for the named reconciler. */
  child: (reconciler: string) => Logger;
  /** Wakes the loop (kernel route and link events). */
  signal: () => void;
}

export function agentBgp(o: AgentOptions & { bird: NonNullable<AgentOptions['bird']> }, { metrics, child, signal }: AgentBgpDeps): AgentBgp {
  const { nodeName } = o;
  const control = new BirdControl(o.bird.socketPath);
  const hold = o.holdDownMs !== undefined ? { holdDownMs: o.holdDownMs } : {};
  const bird = new BirdConfigReconciler({ nodeName, control, configPath: o.bird.configPath, log: child('bird'), metrics, ...hold });
  const sessions = new BgpSessionsReconciler({
    nodeName,
    control,
    birdError: () => bird.error,
    heldPeers: () => bird.heldPeers,
    statusIntervalMs: o.statusIntervalMs ?? 5_000,
    log: child('bgpStatus'),
    metrics,
  });
  const kernel =
    o.kernel === false
      ? undefined
      : new KernelRoutesReconciler({
          nodeName,
          ...(o.kernel?.netns ? { netns: o.kernel.netns } : {}),
          aggregates: () => bird.aggregates,
          onChange: signal,
          log: child('kernel'),
          ...hold,
        });
  return { reconcilers: kernel ? [bird, sessions, kernel] : [bird, sessions], control, kernel };
}
