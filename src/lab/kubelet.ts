// The lab's kubelet: runs each Pod bound to a lab node as a real process in its own network
// namespace (topology.addPod), and writes Pod status the way a 1.32 kubelet does for what
// podlb depends on:
// - ContainersReady: True once the server listens when the container has no readinessProbe;
//   with one, from the probe (prober.ts: periodSeconds, initialDelaySeconds, thresholds),
//   sent to the Pod's HTTP server from the node's network namespace;
// - Ready = ContainersReady AND every readiness gate True (a missing gate condition counts as
//   False). A change that comes from the containers is written with ContainersReady; one that
//   comes from a gate written by someone else is written after a jittered lag (default
//   100-300 ms, as measured on a real 1.32 kubelet), so ordering bugs show in the lab;
// - on deletionTimestamp, within the grace period (deletionGracePeriodSeconds, else
//   terminationGracePeriodSeconds): the preStop sleep (cut at the grace period), SIGTERM, and
//   SIGKILL when the rest of the grace period (at least 2 s, like the kubelet) is over; then
//   the terminal phase from the exit code, and the final delete with gracePeriodSeconds=0.
// It talks to the API server over HTTP, like a kubelet, not through the in-process store.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Condition, Pod } from '../api/types.js';
import { isNotFound, type KubeClient } from '../kube/client.js';
import { ResilientInformer } from '../kube/informer.js';
import type { Topology } from './topology.js';
import type { LabPod } from './pod-server.js';
import { apiNow, cond, gracePeriodSeconds, podReady, preStopSeconds, readyCondition } from './pod-status.js';
import { ProbeWorker, readinessProbeOf, type ReadinessProbe } from './prober.js';
import { limiter } from '../util/concurrency.js';
import {
  type LabKubeletOptions,
  MIN_GRACE_AFTER_PRESTOP_MS,
  POD_STARTS_IN_FLIGHT,
  REALISTIC_READY_LAG_MS,
  RELEASE_STATUS_WRITES_IN_FLIGHT,
} from './kubelet-options.js';

export type { LabKubeletOptions } from './kubelet-options.js';

type PodPhase = 'starting' | 'running' | 'terminating' | 'gone';

interface PodRun {
  phase: PodPhase;
  lp?: LabPod;
  worker?: ProbeWorker;
  readyTimer?: NodeJS.Timeout;
  /** A Ready write is under way: like the kubelet's status manager, one status sync per Pod at a time. */
  readyWriting?: boolean;
}

export class LabKubelet {
  readonly #client: KubeClient;
  readonly #topo: Topology;
  readonly #log: Logger;
  readonly #nodes: Set<string>;
  readonly #lag: { min: number; max: number };
  readonly #random: () => number;
  readonly #exec: LabKubeletOptions['exec'];
  readonly #runs = new Map<string, PodRun>();
  readonly #informer: ResilientInformer<Pod & KubernetesObject>;
  #queue: Promise<void> = Promise.resolve();
  #dirty = false;
  #stopped = false;
  /** Wall-clock ms of each Pod's (uid) first ContainersReady=True and Ready=True writes, for the lab's latency figures. */
  readonly containersReadyAt = new Map<string, number>();
  readonly readyAt = new Map<string, number>();
  /** While held, started Pods wait for release() before their containers report ready. */
  #hold: { waiters: (() => Promise<void>)[] } | undefined;
  readonly #startSlot = limiter(POD_STARTS_IN_FLIGHT);
  readonly #releaseSlot = limiter(RELEASE_STATUS_WRITES_IN_FLIGHT);
  readonly #starting = new Set<Promise<void>>();

  constructor(client: KubeClient, topo: Topology, log: Logger, opts: LabKubeletOptions = {}) {
    this.#client = client;
    this.#topo = topo;
    this.#log = log;
    this.#lag = opts.readyLagMs ?? REALISTIC_READY_LAG_MS;
    if (!(this.#lag.min >= 0 && this.#lag.max >= this.#lag.min)) throw new Error(`readyLagMs must satisfy 0 <= min <= max, got ${JSON.stringify(this.#lag)}`);
    this.#random = opts.random ?? Math.random;
    this.#exec = opts.exec;
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

  /** Lets every held Pod's containers run now; resolves when they all did. */
  async release(): Promise<void> {
    const h = this.#hold;
    this.#hold = undefined;
    await Promise.all((h?.waiters ?? []).map((w) => this.#releaseSlot(w)));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const r of this.#runs.values()) {
      r.worker?.stop();
      clearTimeout(r.readyTimer);
    }
    await this.#informer.stop();
    await this.#queue;
    await Promise.all(this.#starting);
  }

  #kick(): void {
    if (this.#dirty || this.#stopped) return;
    this.#dirty = true;
    this.#queue = this.#queue.then(async () => {
      this.#dirty = false;
      await this.#sync().catch((err) => this.#log.error({ err }, 'kubelet sync failed'));
    });
  }

  #current(pod: Pod): Pod | undefined {
    return this.#informer.get(pod.metadata.name ?? '', pod.metadata.namespace);
  }

  async #sync(): Promise<void> {
    // Host-network Pods (the podlb agent's own) are run by the lab itself, not as lab Pods.
    const pods = this.#informer.list().filter((p) => p.spec.nodeName && this.#nodes.has(p.spec.nodeName) && !(p.spec as { hostNetwork?: boolean }).hostNetwork);
    const seen = new Set<string>();
    // Pods start concurrently, up to POD_STARTS_IN_FLIGHT at once; termination runs in the background.
    await Promise.all(
      pods.map(async (pod) => {
        const uid = pod.metadata.uid ?? '';
        seen.add(uid);
        const run = this.#runs.get(uid);
        if (pod.metadata.deletionTimestamp) {
          if (run?.phase !== 'terminating' && run?.phase !== 'gone') void this.#terminate(pod, run);
          return;
        }
        if (!run) {
          // Not awaited: a Pod waiting for a start slot must not hold up the Ready writes of
          // Pods already running (the next sync sees it as 'starting' and leaves it be).
          const start = this.#startPod(pod).finally(() => this.#starting.delete(start));
          this.#starting.add(start);
          return;
        }
        if (run.phase === 'running') this.#scheduleReady(pod, run);
      }),
    );
    for (const [uid, run] of this.#runs) {
      if (seen.has(uid)) continue;
      // Deleted for good (gracePeriodSeconds=0) while still running: kill what is left.
      if (run.phase === 'running' || run.phase === 'starting') void this.#kill(uid, run);
      else if (run.phase === 'gone') this.#runs.delete(uid);
    }
  }

  async #startPod(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    const run: PodRun = { phase: 'starting' };
    this.#runs.set(uid, run);
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const port = pod.spec.containers[0]?.ports?.[0]?.containerPort ?? 8080;
    try {
      // The sandbox's address is reported before the container runs, as a kubelet does: the
      // EndpointSlice lists the Pod (not ready) before its containers are ready.
      let sandboxWritten: Promise<void> = Promise.resolve();
      const lp = await this.#startSlot(async () => {
        // Stopped while waiting for a slot: nothing more is started.
        if (this.#stopped) return undefined;
        const started = await this.#topo.addPod(pod.spec.nodeName!, name, port, { onNetworkReady: (ip) => (sandboxWritten = this.#sandboxReady(pod, ip)) });
        await sandboxWritten;
        return started;
      });
      if (!lp) {
        this.#runs.delete(uid);
        return;
      }
      run.lp = lp;
      // Deleted while it started: terminate() and kill() found no server to stop, so stop it here.
      if (run.phase !== 'starting') {
        await this.#topo.removePod(name, { graceful: false }).catch(() => undefined);
        return;
      }
      const hold = this.#hold;
      if (hold) {
        // Held: the status is written when release() runs this step, for every held Pod at
        // once. Not awaited here, so the sync queue goes on starting the rest of the burst.
        hold.waiters.push(() => this.#containerStarted(pod, run));
        return;
      }
      await this.#containerStarted(pod, run);
    } catch (err) {
      this.#log.error({ pod: `${ns}/${name}`, err }, 'pod start failed');
      this.#runs.delete(uid);
    }
  }

  /** The Pod's network is up, its container not started yet: phase Pending with the Pod IP. */
  async #sandboxReady(pod: Pod, ip: string): Promise<void> {
    const now = apiNow();
    const node = this.#topo.nodes.find((n) => n.name === pod.spec.nodeName);
    const conditions: Condition[] = [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      { type: 'Initialized', status: 'True', lastTransitionTime: now },
      { type: 'ContainersReady', status: 'False', lastTransitionTime: now, reason: 'ContainersNotReady' },
      readyCondition(pod, false, now),
    ];
    await this.#client
      .patch(
        `/api/v1/namespaces/${pod.metadata.namespace ?? 'default'}/pods/${pod.metadata.name}/status`,
        { status: { phase: 'Pending', podIP: ip, podIPs: [{ ip }], hostIP: node?.address, startTime: now, conditions } },
        'strategic',
      )
      .catch((err) => this.#log.warn({ pod: pod.metadata.name, err }, 'sandbox status patch failed'));
  }

  async #containerStarted(pod: Pod, run: PodRun): Promise<void> {
    if (run.phase !== 'starting' || !run.lp) return;
    const lp = run.lp;
    const ns = pod.metadata.namespace ?? 'default';
    const now = apiNow();
    const node = this.#topo.nodes.find((n) => n.name === pod.spec.nodeName);
    const probe = readinessProbeOf(pod);
    // With a probe, the containers stay not ready (as written with the sandbox) until it passes.
    const conditions: Condition[] = probe
      ? []
      : [{ type: 'ContainersReady', status: 'True', lastTransitionTime: now, reason: null as unknown as string }, readyCondition(pod, true, now)];
    await this.#client.patch(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}/status`, { status: { phase: 'Running', conditions } }, 'strategic');
    run.phase = 'running';
    if (!probe) this.#markContainersReady(pod, conditions);
    this.#log.info({ pod: `${ns}/${pod.metadata.name}`, ip: lp.ip, node: pod.spec.nodeName, probe: Boolean(probe) }, 'pod running');
    if (probe && node) {
      run.worker = new ProbeWorker(
        probe,
        () => this.#probeHttp(node.ns, lp.ip, probe),
        (ready) => void this.#containersReadyChanged(pod, run, ready),
      );
      run.worker.start();
    }
  }

  #markContainersReady(pod: Pod, conditions: Condition[]): void {
    const uid = pod.metadata.uid ?? '';
    const t = performance.timeOrigin + performance.now();
    if (!this.containersReadyAt.has(uid)) this.containersReadyAt.set(uid, t);
    if (conditions.some((c) => c.type === 'Ready' && c.status === 'True') && !this.readyAt.has(uid)) this.readyAt.set(uid, t);
  }

  async #probeHttp(nodeNs: string, ip: string, probe: ReadinessProbe): Promise<boolean> {
    const url = `${probe.httpGet.scheme.toLowerCase()}://${ip}:${probe.httpGet.port}${probe.httpGet.path}`;
    if (!this.#exec) throw new Error('the lab kubelet was started without exec: readiness probes cannot reach the node');
    const code = await this.#exec(nodeNs, 'curl', ['-s', '-k', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(probe.timeoutSeconds), url], {
      timeoutMs: probe.timeoutSeconds * 1000 + 2000,
    });
    const status = Number(code.trim());
    return status >= 200 && status < 400;
  }

  /** A probe result changed the containers' readiness: ContainersReady and Ready in one write. */
  async #containersReadyChanged(pod: Pod, run: PodRun, ready: boolean): Promise<void> {
    if (this.#stopped || run.phase === 'gone') return;
    const latest = this.#current(pod) ?? pod;
    const now = apiNow();
    const conditions: Condition[] = [
      {
        type: 'ContainersReady',
        status: ready ? 'True' : 'False',
        lastTransitionTime: now,
        ...(ready ? { reason: null as unknown as string } : { reason: 'ContainersNotReady' }),
      },
      readyCondition(latest, ready, now),
    ];
    clearTimeout(run.readyTimer);
    run.readyTimer = undefined;
    try {
      await this.#client.patch(
        `/api/v1/namespaces/${latest.metadata.namespace ?? 'default'}/pods/${latest.metadata.name}/status`,
        { status: { conditions } },
        'strategic',
      );
      if (ready) this.#markContainersReady(latest, conditions);
    } catch (err) {
      if (!isNotFound(err)) this.#log.warn({ pod: latest.metadata.name, err }, 'containers ready patch failed');
    }
  }

  /** A gate changed: Ready follows after the kubelet's lag, computed from the Pod as it is then. */
  #scheduleReady(pod: Pod, run: PodRun): void {
    // While a write is under way, every Pod event would start another for the same Pod: under a
    // slow API server they piled up by the thousand (each Pod event × each Pod not yet Ready)
    // and made it slower still. The write re-checks once it is answered.
    if ((cond(pod, 'Ready') === 'True') === podReady(pod) || run.readyTimer || run.readyWriting) return;
    const lag = this.#lag.min + (this.#lag.max - this.#lag.min) * this.#random();
    run.readyTimer = setTimeout(() => {
      run.readyTimer = undefined;
      void this.#writeReady(pod, run);
    }, lag);
  }

  async #writeReady(pod: Pod, run: PodRun): Promise<void> {
    const latest = this.#current(pod);
    if (this.#stopped || run.phase !== 'running' || !latest || latest.metadata.uid !== pod.metadata.uid) return;
    const want = podReady(latest);
    if ((cond(latest, 'Ready') === 'True') === want) return;
    const ready = readyCondition(latest, cond(latest, 'ContainersReady') === 'True', apiNow());
    run.readyWriting = true;
    let written: Pod | undefined;
    try {
      written = await this.#client.patch<Pod>(
        `/api/v1/namespaces/${latest.metadata.namespace ?? 'default'}/pods/${latest.metadata.name}/status`,
        { status: { conditions: [ready] } },
        'strategic',
      );
      if (want && !this.readyAt.has(latest.metadata.uid ?? '')) this.readyAt.set(latest.metadata.uid ?? '', performance.timeOrigin + performance.now());
    } catch (err) {
      if (!isNotFound(err)) this.#log.warn({ pod: latest.metadata.name, err }, 'ready patch failed');
    } finally {
      run.readyWriting = false;
    }
    // A gate that changed while the write was under way (or a failed write) is caught up now;
    // the server's answer is newer than the cache, which may not have seen this write yet.
    const after = written ?? this.#current(pod);
    if (after && !this.#stopped) this.#scheduleReady(after, run);
  }

  async #terminate(pod: Pod, run: PodRun | undefined): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    const r: PodRun = run ?? { phase: 'terminating' };
    const started = r.phase === 'running' && r.lp !== undefined;
    r.phase = 'terminating';
    this.#runs.set(uid, r);
    clearTimeout(r.readyTimer);
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    try {
      let exitCode: number | null = 0;
      if (started) {
        const graceMs = gracePeriodSeconds(pod) * 1000;
        const t0 = performance.now();
        // preStop runs at most for the grace period; the probe keeps running meanwhile, so a
        // server that turns itself unhealthy shows in Ready while it drains.
        const sleepMs = Math.min(preStopSeconds(pod) * 1000, graceMs);
        if (sleepMs > 0) await new Promise((res) => setTimeout(res, sleepMs));
        const rest = Math.max(MIN_GRACE_AFTER_PRESTOP_MS, graceMs - (performance.now() - t0));
        const lp = r.lp!;
        await this.#topo.removePod(name, { graceful: true, graceMs: rest }).catch(() => undefined);
        exitCode = await lp.exited;
      }
      r.worker?.stop();
      const now = apiNow();
      await this.#client
        .patch(
          `/api/v1/namespaces/${ns}/pods/${name}/status`,
          {
            status: {
              phase: exitCode === 0 ? 'Succeeded' : 'Failed',
              conditions: [
                { type: 'ContainersReady', status: 'False', lastTransitionTime: now, reason: 'PodCompleted' },
                { type: 'Ready', status: 'False', lastTransitionTime: now, reason: 'PodCompleted' },
              ],
            },
          },
          'strategic',
        )
        .catch(() => undefined);
      await this.#client.request('DELETE', `/api/v1/namespaces/${ns}/pods/${name}`, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } },
      });
      this.#log.info({ pod: `${ns}/${name}`, exitCode }, 'pod terminated');
    } catch (err) {
      if (!isNotFound(err)) this.#log.error({ pod: `${ns}/${name}`, err }, 'pod termination failed');
    } finally {
      r.phase = 'gone';
    }
  }

  /** The Pod object is gone while its container runs (a forced delete): stop it within the minimum window. */
  async #kill(uid: string, run: PodRun): Promise<void> {
    run.phase = 'terminating';
    run.worker?.stop();
    clearTimeout(run.readyTimer);
    if (run.lp) await this.#topo.removePod(run.lp.name, { graceful: true, graceMs: MIN_GRACE_AFTER_PRESTOP_MS }).catch(() => undefined);
    run.phase = 'gone';
    if (!this.#stopped) this.#runs.set(uid, run);
  }
}
