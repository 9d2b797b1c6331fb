// BIRD configuration: plan from the snapshot, render, apply through the control socket, and
// say so (Events, metrics, status). Planning and rendering are skipped when none of their
// inputs changed: most runs are 25 ms health polls, and rendering 10,000 host routes takes
// ~100 ms. BIRD being away is a failure the loop backs off from; BIRD refusing a config is not.
// A session BIRD refuses is left out and reported on its BGPPeer alone (bird-isolate.ts), so
// one bad object never holds back the others; a refusal nothing can be isolated from keeps the
// old config running, and the next input change is tried at once.
import type { Logger } from 'pino';
import { API_VERSION } from '../api/types.js';
import type { Problem } from '../api/problem.js';
import type { EventToRecord } from '../kube/events.js';
import { BirdApplier } from '../bgp/bird-apply.js';
import type { BirdControl } from '../bgp/bird-control.js';
import { applyIsolating, type IsolateResult, type RefusedPeer } from '../bgp/bird-isolate.js';
import { parseConfig, parseNode } from '../bgp/config.js';
import { describeAdvertised, planBgp, sessionResettingChanges, type BirdModel, type BirdPassword, type BirdPeerModel } from '../bgp/model.js';
import { podIPsForNode } from '../bgp/pod-ips.js';
import { renderBirdConf } from '../bgp/render.js';
import type { Reconciler, ReconcileResult } from '../reconcile/reconciler.js';
import { errorMessage } from '../util/errors.js';
import { nodeForAdvertising } from './drain.js';
import { holdPasswords, HoldDown, type HeldPassword } from './hold-down.js';
import type { AgentMetrics } from './metrics.js';
import type { NodeStatusContribution } from './node-status.js';
import type { AgentSnapshot } from './snapshot.js';

/** A refresh this often re-checks the file on disk (cheap when unchanged), so drift heals. */
export const BIRD_REFRESH_MS = 60_000;

interface LastApply {
  hash: string;
  time: string;
  result: 'Applied' | 'Unchanged' | 'Failed';
  error?: string;
}

export interface BirdConfigOptions {
  nodeName: string;
  control: BirdControl;
  configPath: string;
  log: Logger;
  metrics: AgentMetrics;
  /** How long a session keeps its password after its Secret went missing or invalid (default HOLD_DOWN_MS). */
  holdDownMs?: number;
}

/** What the BGP plan depends on, cheaply: resourceVersions, Pod IPs and the gateways. */
export function bgpInputKey(s: AgentSnapshot): string {
  const rv = (xs: readonly { metadata?: { name?: string; resourceVersion?: string } }[]): string =>
    xs
      .map((x) => `${x.metadata?.name}@${x.metadata?.resourceVersion}`)
      .sort()
      .join(',');
  const podIps = s.pods
    .map(
      (p) =>
        `${p.metadata.namespace}/${p.metadata.name}=${(p.status?.podIPs ?? []).map((x) => x.ip).join('+') || (p.status?.podIP ?? '')}:${p.status?.phase ?? ''}`,
    )
    .sort()
    .join(',');
  return [s.node?.metadata.resourceVersion, rv(s.pools), rv(s.peers), rv(s.secrets), rv(s.services), podIps, s.gateway?.v4 ?? '', s.gateway?.v6 ?? ''].join(
    '|',
  );
}

export class BirdConfigReconciler implements Reconciler<AgentSnapshot, NodeStatusContribution> {
  readonly name = 'bird';
  readonly backoff = { baseMs: 250, maxMs: 30_000 };
  readonly #o: BirdConfigOptions;
  readonly #applier: BirdApplier;
  /** Inputs of the last plan BIRD answered, and when. */
  #key = '';
  #keyAt = 0;
  /** The model BIRD runs, to tell session-resetting changes from soft ones before applying. */
  #appliedModel: BirdModel | undefined;
  #lastApply: LastApply | undefined;
  #advertised: string[] = [];
  readonly #passwordHold: HoldDown<BirdPassword>;
  #heldPasswords: HeldPassword[] = [];
  /** Sessions BIRD refused in the config it runs, by protocol name (left out until their block changes). */
  #refused: ReadonlyMap<string, RefusedPeer> = new Map();
  #aggregates: string[] | undefined;
  #error: string | undefined;

  constructor(o: BirdConfigOptions) {
    this.#o = o;
    this.#applier = new BirdApplier({ configPath: o.configPath, control: o.control });
    this.#passwordHold = new HoldDown(o.holdDownMs);
  }

  /** Why BIRD could not be reached, until it answers again. */
  get error(): string | undefined {
    return this.#error;
  }

  /** The sessions BIRD runs with a held password (their Secret is missing or invalid). */
  get heldPeers(): readonly BirdPeerModel[] {
    const held = new Set(this.#heldPasswords.map((h) => h.peer));
    return this.#appliedModel?.peers.filter((p) => held.has(p.peer)) ?? [];
  }

  /** NodeCIDR prefixes BIRD runs a config for; undefined until it took one (nothing known yet). */
  get aggregates(): readonly string[] | undefined {
    return this.#aggregates;
  }

  async reconcile(s: AgentSnapshot, now: number): Promise<ReconcileResult<NodeStatusContribution>> {
    const { log, nodeName } = this.#o;
    const problems: Problem[] = [];
    const events: EventToRecord[] = [];
    const self = { apiVersion: API_VERSION, kind: 'PodLBNode', name: nodeName };
    if (!s.node) {
      problems.push({
        object: { apiVersion: 'v1', kind: 'Node', name: nodeName },
        field: 'metadata.name',
        reason: 'NodeNotFound',
        message: `Node ${nodeName} does not exist; nothing is advertised until it does`,
        severity: 'Warning',
      });
      return { problems, status: this.#status() };
    }
    const key = bgpInputKey(s);
    const holdEnds = Math.min(...this.#heldPasswords.map((h) => h.until));
    if (key === this.#key && now - this.#keyAt < BIRD_REFRESH_MS && now < holdEnds)
      return { status: this.#status(), ...(Number.isFinite(holdEnds) ? { nextWakeAt: holdEnds } : {}) };

    const drained = nodeForAdvertising(s.node, s.pods);
    if (drained.withdrawn.length > 0) {
      events.push({
        object: self,
        type: 'Normal',
        reason: 'DrainedPodCIDRWithdrawn',
        message: `Node is cordoned and no Pod uses ${drained.withdrawn.join(', ')} any more: withdrawn until it is uncordoned`,
      });
    }
    const config = parseConfig({ pools: s.pools, peers: s.peers, secrets: s.secrets });
    const passwords = holdPasswords(config.peers, this.#appliedModel, this.#passwordHold, now);
    const plan = planBgp({ pools: config.pools, peers: passwords.peers }, parseNode(drained.node), {
      podIPs: podIPsForNode({ nodeName, pods: s.pods, services: s.services }),
      ...(s.gateway ? { defaultGateway: s.gateway } : {}),
    });
    problems.push(...plan.problems, ...passwords.problems);
    this.#heldPasswords = passwords.held;
    let out: IsolateResult;
    try {
      out = await applyIsolating(plan.model, {
        render: (m) => renderBirdConf(m),
        apply: (t) => this.#applier.apply(t),
        check: (t) => this.#applier.check(t),
        refused: this.#refused,
      });
    } catch (err) {
      return this.#unreachable(errorMessage(err), events, problems, err);
    }
    const { res, model } = out;
    const resets = this.#appliedModel ? sessionResettingChanges(this.#appliedModel, model) : [];
    // A transient failure (socket missing, timeout) is BIRD being away, not BIRD refusing the config.
    if (res.result === 'Failed' && res.transient) return this.#unreachable(res.error ?? 'BIRD did not answer', events, problems, res.err);

    if (res.result === 'Applied') {
      // Prefix and filter changes are soft; these restart a session, and users ask why.
      for (const r of resets) {
        log.warn({ peer: r.peer, protocol: r.protocol, fields: r.fields }, 'BGP session restarts: a changed setting needs a new session');
        events.push({
          object: { apiVersion: API_VERSION, kind: 'BGPPeer', name: r.peer },
          type: 'Normal',
          reason: 'SessionRestarted',
          message: `Node ${nodeName}: changing ${r.fields.join(', ')} restarts the BGP session (prefix and filter changes never do)`,
        });
      }
    }
    if (res.result !== 'Failed') {
      this.#appliedModel = model;
      this.#refused = new Map(out.leftOut.map((r) => [r.protocol, r]));
    }
    // Reported on the BGPPeer alone: the other sessions and every prefix are applied.
    for (const r of out.leftOut) {
      problems.push({
        object: { apiVersion: API_VERSION, kind: 'BGPPeer', name: r.peer },
        field: 'spec',
        reason: 'BirdRefusedSession',
        severity: 'Warning',
        message: `BGPPeer ${r.peer}: BIRD refuses its session on node ${nodeName} (${r.error}); the session is left out and the rest of the configuration applies: fix or delete the BGPPeer`,
      });
    }
    // Same inputs give the same text and the same answer from BIRD: plan again only when they
    // change (a refused config is retried with new inputs, or at the next refresh).
    this.#key = key;
    this.#keyAt = now;
    this.#o.metrics.birdReloads.inc({ result: res.result });
    if (this.#error) log.info('BIRD control socket reachable again');
    this.#error = undefined;
    if (res.result === 'Failed') {
      // BIRD refused the rendered config: a podlb bug or an unexpected BIRD; the old config keeps running.
      events.push({
        object: self,
        type: 'Warning',
        reason: 'BirdConfigRejected',
        message: `BIRD refused the new configuration, the previous one keeps running: ${res.error}`,
      });
      log.error({ err: res.err, hash: res.hash }, 'BIRD refused the rendered configuration; keeping the running one');
      this.#lastApply = { hash: res.hash, time: new Date(now).toISOString(), result: 'Failed', ...(res.error ? { error: res.error } : {}) };
      return { events, problems, status: this.#status() };
    }
    if (res.result === 'Applied') {
      log.info(
        {
          hash: res.hash,
          durationMs: res.durationMs,
          phasesMs: res.phasesMs,
          prefixes: plan.advertised.length,
          peers: model.peers.length,
          leftOut: out.leftOut.map((r) => r.peer),
        },
        'BIRD configuration applied',
      );
      events.push({
        object: self,
        type: 'Normal',
        reason: 'BirdConfigApplied',
        message: `Advertising ${describeAdvertised(plan.advertised)} to ${model.peers.length} peer(s)`,
      });
    }
    if (res.result === 'Applied' || !this.#lastApply || this.#lastApply.hash !== res.hash) {
      this.#lastApply = { hash: res.hash, time: new Date(now).toISOString(), result: res.result };
    }
    this.#advertised = plan.advertised.map((a) => a.prefix);
    // Blackholes only for aggregates, never PodIPs host routes: a /32 blackhole would cut the Pod off.
    this.#aggregates = plan.advertised.filter((a) => a.mode === 'NodeCIDR').map((a) => a.prefix);
    this.#o.metrics.advertisedPrefixes.set(this.#advertised.length);
    const ends = Math.min(...this.#heldPasswords.map((h) => h.until));
    return { events, problems, status: this.#status(), ...(Number.isFinite(ends) ? { nextWakeAt: ends } : {}) };
  }

  #unreachable(error: string, events: EventToRecord[], problems: Problem[], err: unknown): ReconcileResult<NodeStatusContribution> {
    // One Event per episode; the loop logs and backs off every failure.
    if (!this.#error) {
      events.push({
        object: { apiVersion: API_VERSION, kind: 'PodLBNode', name: this.#o.nodeName },
        type: 'Warning',
        reason: 'BirdUnreachable',
        message: `${error}; retrying, routes already advertised stay`,
      });
    }
    this.#error = error;
    this.#o.metrics.birdReloads.inc({ result: 'Unreachable' });
    return { events, problems, failed: { error, err }, status: this.#status() };
  }

  #status(): NodeStatusContribution {
    const last = this.#lastApply;
    const error = this.#error;
    return {
      fields: {
        bgp: {
          advertisedPrefixes: this.#advertised,
          ...(last ? { configHash: last.hash, lastApplyTime: last.time, lastApplyResult: last.result } : {}),
          ...(error || last?.error ? { lastError: error ?? last?.error } : {}),
        },
      },
      conditions: [
        last?.result === 'Failed'
          ? { type: 'ConfigApplied', status: 'False', reason: 'BirdConfigRejected', message: last.error ?? 'BIRD refused the configuration' }
          : error
            ? { type: 'ConfigApplied', status: 'Unknown', reason: 'BirdUnreachable', message: error }
            : this.#refused.size > 0
              ? {
                  type: 'ConfigApplied',
                  status: 'True',
                  reason: 'AppliedWithoutRefusedSessions',
                  message: `config ${last?.hash.slice(0, 12) ?? ''} running without the session(s) BIRD refuses: ${[...this.#refused.values()].map((r) => `BGPPeer ${r.peer}`).join(', ')}`,
                }
              : { type: 'ConfigApplied', status: 'True', reason: 'Applied', message: `config ${last?.hash.slice(0, 12) ?? ''} running` },
        ...(this.#heldPasswords.length > 0
          ? [
              {
                type: 'PeerPasswordHeld',
                status: 'True' as const,
                reason: 'PasswordSecretMissing',
                message: this.#heldPasswords.map((h) => `BGPPeer ${h.peer} keeps its running password until ${new Date(h.until).toISOString()}`).join('; '),
              },
            ]
          : []),
      ],
    };
  }
}
