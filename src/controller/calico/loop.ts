// The controller's Calico loop (`--bgp=calico`, leader only): informers on podlb's BGPPeers and
// PodAddressPools, Calico's BGPPeers, BGPFilters and BGPConfigurations; one serial loop, woken
// by any change (level-triggered, bursts coalesced) and by a periodic resync, renders the
// whole set, plans against what the API server holds and applies only the differences.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_VERSION, type BGPPeer, type PodAddressPool } from '../../api/types.js';
import type { Problem } from '../../api/problem.js';
import { Signal } from '../../reconcile/signal.js';
import type { KubeClient } from '../../kube/client.js';
import type { EventToRecord } from '../../kube/events.js';
import { ResilientInformer } from '../../kube/informer.js';
import { errorMessage } from '../../util/errors.js';
import { CALICO_API_VERSION, CALICO_DEFAULT_ASN, renderCalico } from './render.js';
import { applyCalicoSync, planCalicoSync, type CalicoApplyResult, type CalicoCurrent } from './sync.js';

export interface CalicoLoopOptions {
  client: KubeClient;
  log: Logger;
  record: (ev: EventToRecord) => void;
  /** calico-node's namespace: BGP password Secrets must be there. */
  calicoNamespace?: string;
  resyncMs?: number;
  /** After a failed write. */
  retryMs?: number;
  now?: () => number;
}

export interface CalicoRunReport {
  at: number;
  skipped?: 'notSynced';
  /** Informers that have not listed yet, e.g. `calicoFilters` when Calico has no BGPFilter CRD (before 3.26). */
  notSynced?: string[];
  clusterAsn?: number;
  rendered?: { peers: number; filters: number };
  unchanged?: number;
  apply?: CalicoApplyResult;
  problems: Problem[];
  error?: string;
}

type Obj = KubernetesObject & { spec?: Record<string, unknown> };

export class CalicoLoop {
  readonly #o: Required<CalicoLoopOptions>;
  readonly #inf: {
    peers: ResilientInformer<BGPPeer & KubernetesObject>;
    pools: ResilientInformer<PodAddressPool & KubernetesObject>;
    calicoPeers: ResilientInformer<Obj>;
    calicoFilters: ResilientInformer<Obj>;
    bgpConfigs: ResilientInformer<Obj>;
  };
  readonly #signal = new Signal();
  #leading = false;
  #loop: Promise<void> | undefined;
  #waiters: ((r: CalicoRunReport) => void)[] = [];
  lastRun: CalicoRunReport | undefined;

  constructor(opts: CalicoLoopOptions) {
    this.#o = { calicoNamespace: 'calico-system', resyncMs: 60_000, retryMs: 5_000, now: Date.now, ...opts };
    const wake = () => this.#signal.notify();
    const inf = <T extends KubernetesObject>(path: string) => new ResilientInformer<T>(opts.client, { path, onChange: wake, log: opts.log.child({ informer: path }) });
    this.#inf = {
      peers: inf(`/apis/${API_VERSION}/bgppeers`),
      pools: inf(`/apis/${API_VERSION}/podaddresspools`),
      // All of them, not only podlb's: a name podlb wants may be taken by a hand-made object.
      calicoPeers: inf(`/apis/${CALICO_API_VERSION}/bgppeers`),
      calicoFilters: inf(`/apis/${CALICO_API_VERSION}/bgpfilters`),
      bgpConfigs: inf(`/apis/${CALICO_API_VERSION}/bgpconfigurations`),
    };
  }

  async start(): Promise<void> {
    await Promise.all(Object.values(this.#inf).map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await this.stopLeading();
    await Promise.all(Object.values(this.#inf).map((i) => i.stop()));
  }

  startLeading(): void {
    if (this.#leading) return;
    this.#leading = true;
    this.#loop = this.#run();
    this.#signal.notify();
  }

  async stopLeading(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    this.#signal.notify();
    await this.#loop;
    this.#signal.cancelTimer();
  }

  /** Resolves with the report of the next pass (tests). */
  nextRun(): Promise<CalicoRunReport> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#signal.notify();
    });
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

  async #run(): Promise<void> {
    while (this.#leading) {
      await this.#signal.wait();
      if (!this.#leading) break;
      const waiters = this.#waiters.splice(0);
      const now = this.#o.now();
      const report: CalicoRunReport = { at: now, problems: [] };
      let next = now + this.#o.resyncMs;
      // An unsynced cache would look like "no podlb peers": everything podlb made would go.
      // Calico before 3.26 has no BGPFilter CRD (nor BGPPeer `filters`): its informer never
      // syncs, so nothing is ever written there, rather than peers that would drop `filters`
      // and export every Calico route.
      const notSynced = this.#notSynced();
      if (notSynced.length > 0) {
        report.skipped = 'notSynced';
        report.notSynced = notSynced;
        if (this.lastRun?.skipped !== 'notSynced') this.#o.log.info({ notSynced }, 'waiting for informers (Calico CRDs bgppeers, bgpfilters, bgpconfigurations must exist)');
        next = now + 1_000;
      } else {
        try {
          report.clusterAsn = this.#clusterAsn();
          const render = renderCalico({ peers: this.#inf.peers.list(), pools: this.#inf.pools.list(), clusterAsn: report.clusterAsn, calicoNamespace: this.#o.calicoNamespace });
          const plan = planCalicoSync(render, { peers: this.#inf.calicoPeers.list() as CalicoCurrent[], filters: this.#inf.calicoFilters.list() as CalicoCurrent[] });
          report.rendered = { peers: render.peers.length, filters: render.filters.length };
          report.unchanged = plan.unchanged;
          report.problems = [...render.problems, ...plan.problems];
          report.apply = await applyCalicoSync(this.#o.client, plan, () => this.#leading);
          const a = report.apply;
          if (a.created.length + a.updated.length + a.deleted.length > 0) this.#o.log.info({ created: a.created, updated: a.updated, deleted: a.deleted }, 'Calico BGP objects synced');
          if (a.errors.length > 0) {
            this.#o.log.warn({ errors: a.errors }, 'some Calico BGP writes failed; retrying');
            next = now + this.#o.retryMs;
          }
          for (const p of report.problems) this.#o.record({ object: p.object, type: p.severity, reason: p.reason, message: p.message });
        } catch (err) {
          report.error = errorMessage(err);
          this.#o.log.warn({ err: report.error }, 'Calico sync failed; retrying');
          next = now + this.#o.retryMs;
        }
      }
      this.lastRun = report;
      for (const w of waiters) w(report);
      this.#signal.wakeAt(next, this.#o.now());
    }
    for (const w of this.#waiters.splice(0)) w({ at: this.#o.now(), problems: [], error: 'stopped leading' });
  }
}
