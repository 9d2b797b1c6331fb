// The controller's Calico loop (`--bgp=calico`, leader only): informers on podlb's BGPPeers and
// PodAddressPools, Calico's BGPPeers, BGPFilters, BGPConfigurations and ClusterInformations,
// and Nodes; one serial loop, woken by any change (level-triggered, bursts coalesced) and by a
// periodic resync, renders the whole set for the Calico version found, leaves out what would
// clash with hand-made Calico BGPPeers, plans against what the API server holds and applies
// only the differences.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, type BGPPeer, type Node, type PodAddressPool } from '../../api/types.js';
import type { ObjectRef, Problem } from '../../api/problem.js';
import { ReconcileLoop } from '../../reconcile/loop.js';
import type { ReconcileResult } from '../../reconcile/reconciler.js';
import { backoff } from '../../util/backoff.js';
import type { KubeClient } from '../../kube/client.js';
import type { EventToRecord } from '../../kube/events.js';
import { ResilientInformer } from '../../kube/informer.js';
import { errorMessage } from '../../util/errors.js';
import { apiProblems, missingCalicoApi } from './api-probe.js';
import { capabilitiesOf } from './capabilities.js';
import { dropClashes } from './clash.js';
import { CALICO_API_VERSION, CALICO_DEFAULT_ASN, renderCalico } from './render.js';
import { applyCalicoSync, planCalicoSync, type CalicoApplyResult, type CalicoCurrent } from './sync.js';

export interface CalicoLoopOptions {
  client: KubeClient;
  log: Logger;
  record: (ev: EventToRecord) => void;
  /** calico-node's namespace: BGP password Secrets must be there. */
  calicoNamespace?: string;
  resyncMs?: number;
  /** After a failed write, doubling up to a minute (backoff()). */
  retryMs?: number;
  now?: () => number;
  random?: () => number;
  /**
   * The controller's own Node and PodAddressPool informers, so those lists are held once: the
   * owner starts and stops them and calls notify() on their changes. Without: the loop's own.
   */
  shared?: { nodes: ResilientInformer<Node & KubernetesObject>; pools: ResilientInformer<PodAddressPool & KubernetesObject> };
}

export interface CalicoRunReport {
  at: number;
  /** notSynced: informers not listed yet; backingOff: the last pass failed, retried after backoff. */
  skipped?: 'notSynced' | 'backingOff';
  /** Informers that have not listed yet, e.g. `calicoFilters` when Calico has no BGPFilter CRD (before 3.26). */
  notSynced?: string[];
  clusterAsn?: number;
  /** ClusterInformation default spec.calicoVersion, when set. */
  calicoVersion?: string;
  rendered?: { peers: number; filters: number };
  unchanged?: number;
  apply?: CalicoApplyResult;
  problems: Problem[];
  error?: string;
}

type Obj = KubernetesObject & { spec?: Record<string, unknown> };

const PROBE_EVERY_MS = 30_000;

export class CalicoLoop {
  readonly #o: Required<Omit<CalicoLoopOptions, 'shared'>>;
  /** The informers this loop starts and stops (not the shared ones). */
  readonly #own: ResilientInformer<KubernetesObject>[];
  readonly #inf: {
    peers: ResilientInformer<BGPPeer & KubernetesObject>;
    pools: ResilientInformer<PodAddressPool & KubernetesObject>;
    calicoPeers: ResilientInformer<Obj>;
    calicoFilters: ResilientInformer<Obj>;
    bgpConfigs: ResilientInformer<Obj>;
    nodes: ResilientInformer<Node & KubernetesObject>;
    clusterInfo: ResilientInformer<Obj>;
  };
  readonly #loop: ReconcileLoop<null, CalicoRunReport>;
  #leading = false;
  /** The last look at the discovery documents while Calico's informers do not sync. */
  #probe: { at: number; why: { reason: string; message: string } | undefined } | undefined;
  /** Consecutive passes with failed writes. */
  #failedPasses = 0;

  constructor(opts: CalicoLoopOptions) {
    const { shared, ...rest } = opts;
    this.#o = { calicoNamespace: 'calico-system', resyncMs: 60_000, retryMs: 5_000, now: Date.now, random: Math.random, ...rest };
    const wake = () => this.#loop.notify();
    const inf = <T extends KubernetesObject>(path: string) =>
      new ResilientInformer<T>(opts.client, { path, onChange: wake, log: opts.log.child({ informer: path }) });
    this.#inf = {
      peers: inf(`/apis/${API_VERSION}/bgppeers`),
      pools: shared?.pools ?? inf(`/apis/${API_VERSION}/podaddresspools`),
      // All of them, not only podlb's: a name podlb wants may be taken by a hand-made object.
      calicoPeers: inf(`/apis/${CALICO_API_VERSION}/bgppeers`),
      calicoFilters: inf(`/apis/${CALICO_API_VERSION}/bgpfilters`),
      bgpConfigs: inf(`/apis/${CALICO_API_VERSION}/bgpconfigurations`),
      // Which nodes a podlb and a hand-made Calico BGPPeer both apply to (clash.ts).
      nodes: shared?.nodes ?? inf('/api/v1/nodes'),
      // ClusterInformation `default` spec.calicoVersion: what Calico's BGPPeer can express.
      clusterInfo: inf(`/apis/${CALICO_API_VERSION}/clusterinformations`),
    };
    this.#own = Object.values(this.#inf).filter((i) => i !== shared?.nodes && i !== shared?.pools) as ResilientInformer<KubernetesObject>[];
    this.#loop = new ReconcileLoop<null, CalicoRunReport>({
      log: this.#o.log,
      reconcilers: [{ name: 'calico', backoff: { baseMs: this.#o.retryMs, maxMs: 60_000 }, reconcile: (_s, now) => this.#pass(now) }],
      snapshot: () => null,
      resyncMs: this.#o.resyncMs,
      record: (ev) => this.#o.record(ev),
      now: this.#o.now,
      random: this.#o.random,
    });
  }

  /** The report of the last pass; undefined on a replica that never led. */
  get lastRun(): CalicoRunReport | undefined {
    const run = this.#loop.lastRun;
    return run && this.#report(run.at, run.runs.get('calico'));
  }

  async start(): Promise<void> {
    await Promise.all(this.#own.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await this.stopLeading();
    await Promise.all(this.#own.map((i) => i.stop()));
  }

  /** A shared informer changed. */
  notify(): void {
    this.#loop.notify();
  }

  startLeading(): void {
    if (this.#leading) return;
    this.#leading = true;
    this.#loop.start();
  }

  async stopLeading(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    await this.#loop.stop();
  }

  /** Resolves with the report of the next pass (tests). */
  async nextRun(): Promise<CalicoRunReport> {
    const run = await this.#loop.nextRun();
    return run ? this.#report(run.at, run.runs.get('calico')) : { at: this.#o.now(), problems: [], error: 'stopped leading' };
  }

  #report(at: number, run: { result?: ReconcileResult<CalicoRunReport>; skipped?: 'backingOff'; error?: string } | undefined): CalicoRunReport {
    if (run?.result?.status) return run.result.status;
    if (run?.skipped) return { at, skipped: run.skipped, problems: [] };
    return { at, problems: [], ...(run?.error ? { error: run.error } : {}) };
  }

  #notSynced(): string[] {
    return Object.entries(this.#inf)
      .filter(([, i]) => !i.synced)
      .map(([k]) => k);
  }

  /** BGPConfiguration `default` spec.asNumber, else Calico's default. */
  #clusterAsn(): number {
    const def = this.#inf.bgpConfigs.list().find((c) => c.metadata?.name === 'default');
    const asn = def?.spec?.asNumber;
    return typeof asn === 'number' && Number.isInteger(asn) && asn > 0 ? asn : CALICO_DEFAULT_ASN;
  }

  /** A podlb BGPPeer's or PodAddressPool's uid, from the informers' caches: the controller's Events name it. */
  uidOf(ref: ObjectRef): string | undefined {
    if (ref.apiVersion !== undefined && ref.apiVersion !== API_VERSION) return undefined;
    const inf = ref.kind === 'BGPPeer' ? this.#inf.peers : ref.kind === 'PodAddressPool' ? this.#inf.pools : undefined;
    return inf?.get(ref.name)?.metadata?.uid;
  }

  async #pass(now: number): Promise<ReconcileResult<CalicoRunReport>> {
    const report: CalicoRunReport = { at: now, problems: [] };
    // An unsynced cache would look like "no podlb peers": everything podlb made would go.
    // Calico before 3.26 has no BGPFilter CRD (nor BGPPeer `filters`): its informer never
    // syncs, so nothing is ever written there, rather than peers that would drop `filters`
    // and export every Calico route.
    const notSynced = this.#notSynced();
    if (notSynced.length > 0) {
      report.skipped = 'notSynced';
      report.notSynced = notSynced;
      if (this.lastRun?.skipped !== 'notSynced')
        this.#o.log.info({ notSynced }, 'waiting for informers (Calico CRDs bgppeers, bgpfilters, bgpconfigurations, clusterinformations must exist)');
      // Not a log line alone: once podlb's own objects are listed, every podlb BGPPeer is told
      // why nothing is rendered (asked again every PROBE_EVERY_MS; the recorder folds repeats).
      if (this.#inf.peers.synced && notSynced.some((k) => k !== 'pools' && k !== 'nodes')) {
        if (this.#probe === undefined || now - this.#probe.at >= PROBE_EVERY_MS) {
          try {
            this.#probe = { at: now, why: await missingCalicoApi(this.#o.client) };
          } catch (err) {
            this.#o.log.warn({ err }, 'could not read the discovery documents of the Calico API');
          }
        }
        const why = this.#probe?.why;
        if (why) {
          report.problems = apiProblems(
            this.#inf.peers.list().map((p) => p.metadata?.name ?? ''),
            why,
          );
          return { status: report, problems: report.problems, nextWakeAt: now + 1_000 };
        }
      }
      return { status: report, nextWakeAt: now + 1_000 };
    }
    try {
      report.clusterAsn = this.#clusterAsn();
      const capabilities = capabilitiesOf(this.#inf.clusterInfo.list().find((c) => c.metadata?.name === 'default')?.spec?.calicoVersion);
      if (capabilities.version) report.calicoVersion = capabilities.version;
      const calicoPeers = this.#inf.calicoPeers.list() as CalicoCurrent[];
      const nodes = this.#inf.nodes.list().map((n) => ({ name: n.metadata?.name ?? '', labels: n.metadata?.labels ?? {} }));
      const render = dropClashes(
        renderCalico({
          peers: this.#inf.peers.list(),
          pools: this.#inf.pools.list(),
          clusterAsn: report.clusterAsn,
          calicoNamespace: this.#o.calicoNamespace,
          capabilities,
        }),
        calicoPeers,
        nodes,
      );
      const plan = planCalicoSync(render, {
        peers: calicoPeers,
        filters: this.#inf.calicoFilters.list() as CalicoCurrent[],
      });
      report.rendered = { peers: render.peers.length, filters: render.filters.length };
      report.unchanged = plan.unchanged;
      report.problems = [...render.problems, ...plan.problems];
      report.apply = await applyCalicoSync(this.#o.client, plan, () => this.#leading);
    } catch (err) {
      report.error = errorMessage(err);
      return { status: report, failed: { error: report.error, err } };
    }
    const a = report.apply;
    if (a.created.length + a.updated.length + a.deleted.length > 0)
      this.#o.log.info({ created: a.created, updated: a.updated, deleted: a.deleted }, 'Calico BGP objects synced');
    this.#failedPasses = a.errors.length > 0 ? this.#failedPasses + 1 : 0;
    let nextWakeAt: number | undefined;
    if (a.errors.length > 0) {
      this.#o.log.warn({ errors: a.errors }, 'some Calico BGP writes failed; retrying');
      nextWakeAt = now + backoff(this.#failedPasses, { baseMs: this.#o.retryMs, maxMs: 60_000 }, this.#o.random);
    }
    return { status: report, problems: report.problems, ...(nextWakeAt !== undefined ? { nextWakeAt } : {}) };
  }
}
