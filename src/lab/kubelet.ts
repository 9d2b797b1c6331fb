// The lab's kubelet: runs each Pod bound to a lab node as a real process in its own network
// namespace (topology.addPod), and writes Pod status the way the kubelet does for what podlb
// depends on:
// - ContainersReady=True once the server listens (the lab's Pods have no readiness probe);
// - Ready = ContainersReady AND every readiness gate's condition True (a gate condition that
//   is missing counts as False), recomputed whenever the Pod's conditions change;
// - on deletionTimestamp: run the preStop sleep (spec.containers[0].lifecycle.preStop.sleep),
//   stop the server gracefully (SIGTERM, in-flight requests finish), mark the Pod not ready,
//   then finish the deletion with gracePeriodSeconds=0.
// It talks to the API server over HTTP, like a kubelet, not through the in-process store.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Condition, Pod } from '../api/types.js';
import { isNotFound, type KubeClient } from '../kube/client.js';
import { ResilientInformer } from '../kube/informer.js';
import type { Topology } from './topology.js';
import { errorMessage } from '../util/errors.js';

type PodState = 'starting' | 'running' | 'terminating' | 'gone';

export function podReady(pod: Pod): boolean {
  const cond = (t: string): string | undefined => pod.status?.conditions?.find((c) => c.type === t)?.status;
  if (cond('ContainersReady') !== 'True') return false;
  return (pod.spec.readinessGates ?? []).every((g) => cond(g.conditionType) === 'True');
}

export function preStopSeconds(pod: Pod): number {
  const c = pod.spec.containers[0] as { lifecycle?: { preStop?: { sleep?: { seconds?: number } } } } | undefined;
  return c?.lifecycle?.preStop?.sleep?.seconds ?? 0;
}

export class LabKubelet {
  readonly #client: KubeClient;
  readonly #topo: Topology;
  readonly #log: Logger;
  readonly #nodes: Set<string>;
  readonly #state = new Map<string, PodState>();
  readonly #informer: ResilientInformer<Pod & KubernetesObject>;
  #queue: Promise<void> = Promise.resolve();
  #dirty = false;
  #stopped = false;
  /** ContainersReady time per Pod uid, for the lab's latency figures. */
  readonly containersReadyAt = new Map<string, number>();
  /** While held, started Pods wait for release() before their containers report ready. */
  #hold: { waiters: (() => void)[] } | undefined;

  constructor(client: KubeClient, topo: Topology, log: Logger) {
    this.#client = client;
    this.#topo = topo;
    this.#log = log;
    this.#nodes = new Set(topo.nodes.map((n) => n.name));
    this.#informer = new ResilientInformer<Pod & KubernetesObject>(client, { path: '/api/v1/pods', onChange: () => this.#kick(), log });
  }

  async start(): Promise<void> {
    await this.#informer.start();
  }

  /** Pods started from now on keep ContainersReady=False until release() (a burst "at once"). */
  hold(): void {
    this.#hold ??= { waiters: [] };
  }

  /** Pods started and waiting for release(). */
  get held(): number {
    return this.#hold?.waiters.length ?? 0;
  }

  /** Lets every held Pod report ContainersReady now; resolves when they all did. */
  async release(): Promise<void> {
    const h = this.#hold;
    this.#hold = undefined;
    await Promise.all((h?.waiters ?? []).map((w) => w()));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#informer.stop();
    await this.#queue;
  }

  #kick(): void {
    if (this.#dirty || this.#stopped) return;
    this.#dirty = true;
    this.#queue = this.#queue.then(async () => {
      this.#dirty = false;
      await this.#sync().catch((err) => this.#log.error({ err: errorMessage(err) }, 'kubelet sync failed'));
    });
  }

  async #sync(): Promise<void> {
    // Host-network Pods (the podlb agent's own) are run by the lab itself, not as lab Pods.
    const pods = this.#informer.list().filter((p) => p.spec.nodeName && this.#nodes.has(p.spec.nodeName) && !(p.spec as { hostNetwork?: boolean }).hostNetwork);
    const seen = new Set<string>();
    // Pods start concurrently (a real kubelet does too); termination runs in the background.
    await Promise.all(
      pods.map(async (pod) => {
        const uid = pod.metadata.uid ?? '';
        seen.add(uid);
        const state = this.#state.get(uid);
        if (pod.metadata.deletionTimestamp) {
          if (state !== 'terminating' && state !== 'gone') {
            this.#state.set(uid, 'terminating');
            void this.#terminate(pod, state === 'running' || state === 'starting');
          }
          return;
        }
        if (state === undefined) {
          this.#state.set(uid, 'starting');
          await this.#startPod(pod);
          return;
        }
        if (state === 'running') await this.#syncReady(pod);
      }),
    );
    for (const uid of this.#state.keys()) if (!seen.has(uid) && this.#state.get(uid) === 'gone') this.#state.delete(uid);
  }

  async #startPod(pod: Pod): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const port = pod.spec.containers[0]?.ports?.[0]?.containerPort ?? 8080;
    try {
      const lp = await this.#topo.addPod(pod.spec.nodeName!, name, port);
      const hold = this.#hold;
      if (hold) {
        // Held: the status is written when release() runs this step, for every held Pod at
        // once. Not awaited here, so the sync queue goes on starting the rest of the burst.
        hold.waiters.push(() => this.#reportStarted(pod, lp.ip));
        return;
      }
      await this.#reportStarted(pod, lp.ip);
    } catch (err) {
      this.#log.error({ pod: `${ns}/${name}`, err: errorMessage(err) }, 'pod start failed');
      this.#state.delete(pod.metadata.uid ?? '');
    }
  }

  async #reportStarted(pod: Pod, ip: string): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    {
      const lp = { ip };
      const now = new Date().toISOString();
      const node = this.#topo.nodes.find((n) => n.name === pod.spec.nodeName);
      const conditions: Condition[] = [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
      ];
      const draft: Pod = { ...pod, status: { ...pod.status, conditions } };
      conditions.push({ type: 'Ready', status: podReady(draft) ? 'True' : 'False', lastTransitionTime: now, ...(podReady(draft) ? {} : { reason: 'ReadinessGatesNotReady', message: 'corresponding condition of pod readiness gate is not True' }) });
      await this.#client.patch(`/api/v1/namespaces/${ns}/pods/${name}/status`, { status: { phase: 'Running', podIP: lp.ip, podIPs: [{ ip: lp.ip }], hostIP: node?.address, startTime: now, conditions } }, 'strategic');
      this.containersReadyAt.set(pod.metadata.uid ?? '', performance.timeOrigin + performance.now());
      this.#state.set(pod.metadata.uid ?? '', 'running');
      this.#log.info({ pod: `${ns}/${name}`, ip: lp.ip, node: pod.spec.nodeName }, 'pod running');
    }
  }

  async #syncReady(pod: Pod): Promise<void> {
    const want = podReady(pod);
    const current = pod.status?.conditions?.find((c) => c.type === 'Ready');
    if ((current?.status === 'True') === want) return;
    const ns = pod.metadata.namespace ?? 'default';
    await this.#client
      .patch(
        `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/status`,
        { status: { conditions: [{ type: 'Ready', status: want ? 'True' : 'False', lastTransitionTime: new Date().toISOString(), reason: want ? null : 'ReadinessGatesNotReady' }] } },
        'strategic',
      )
      .catch((err) => this.#log.warn({ err: errorMessage(err) }, 'ready patch failed'));
  }

  async #terminate(pod: Pod, started: boolean): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    try {
      const sleep = preStopSeconds(pod);
      if (started && sleep > 0) await new Promise((r) => setTimeout(r, sleep * 1000));
      if (started) await this.#topo.removePod(name, { graceful: true }).catch(() => undefined);
      const now = new Date().toISOString();
      await this.#client
        .patch(`/api/v1/namespaces/${ns}/pods/${name}/status`, { status: { phase: 'Succeeded', conditions: [{ type: 'ContainersReady', status: 'False', lastTransitionTime: now }, { type: 'Ready', status: 'False', lastTransitionTime: now }] } }, 'strategic')
        .catch(() => undefined);
      await this.#client.request('DELETE', `/api/v1/namespaces/${ns}/pods/${name}`, { body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 } });
      this.#log.info({ pod: `${ns}/${name}` }, 'pod terminated');
    } catch (err) {
      if (!isNotFound(err)) this.#log.error({ pod: `${ns}/${name}`, err: errorMessage(err) }, 'pod termination failed');
    } finally {
      this.#state.set(pod.metadata.uid ?? '', 'gone');
    }
  }
}
