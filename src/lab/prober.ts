// The lab kubelet's readiness prober, after pkg/kubelet/prober/worker.go (1.32): one worker per
// container with a readinessProbe, probing every periodSeconds once the container has run
// initialDelaySeconds, reporting a result only after successThreshold successes or
// failureThreshold failures in a row. Until the first reported success the container is not
// ready (readiness starts as Failure). HTTP probes are sent from the node's network namespace,
// as the kubelet sends them from the host: 200 <= status < 400 is success.
import type { Pod } from '../api/types.js';

export interface ReadinessProbe {
  httpGet: { path: string; port: number; scheme: 'HTTP' | 'HTTPS' };
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

interface ProbeSpec {
  httpGet?: { path?: string; port?: number | string; scheme?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

/**
 * The first container's readinessProbe with the API defaults filled in, or undefined when it
 * has none. Only httpGet is supported: the lab's containers are HTTP servers, not images an
 * exec probe could run in. A named port resolves from the container's ports.
 */
export function readinessProbeOf(pod: Pod): ReadinessProbe | undefined {
  const c = pod.spec.containers[0] as { readinessProbe?: ProbeSpec; ports?: { name?: string; containerPort: number }[] } | undefined;
  const p = c?.readinessProbe;
  if (!p?.httpGet) return undefined;
  const port =
    typeof p.httpGet.port === 'number'
      ? p.httpGet.port
      : /^\d+$/.test(p.httpGet.port ?? '')
        ? Number(p.httpGet.port)
        : c?.ports?.find((x) => x.name === p.httpGet!.port)?.containerPort;
  if (port === undefined) return undefined;
  return {
    httpGet: { path: p.httpGet.path ?? '/', port, scheme: p.httpGet.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP' },
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}

export interface ProbeState {
  /** The result last reported to the status manager (readiness starts as not ready). */
  ready: boolean;
  last?: boolean;
  run: number;
}

/** One probe result in; the new state and whether the reported readiness changed. */
export function nextProbeState(
  state: ProbeState,
  success: boolean,
  probe: Pick<ReadinessProbe, 'successThreshold' | 'failureThreshold'>,
): { state: ProbeState; changed: boolean } {
  const run = state.last === success ? state.run + 1 : 1;
  const threshold = success ? probe.successThreshold : probe.failureThreshold;
  if (run < threshold || state.ready === success) return { state: { ready: state.ready, last: success, run }, changed: false };
  return { state: { ready: success, last: success, run }, changed: true };
}

/** Runs one probe worker; `probeOnce` resolves true on success; `onChange` gets reported readiness. */
export class ProbeWorker {
  readonly #probe: ReadinessProbe;
  readonly #probeOnce: () => Promise<boolean>;
  readonly #onChange: (ready: boolean) => void;
  #state: ProbeState = { ready: false, run: 0 };
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(probe: ReadinessProbe, probeOnce: () => Promise<boolean>, onChange: (ready: boolean) => void) {
    this.#probe = probe;
    this.#probeOnce = probeOnce;
    this.#onChange = onChange;
  }

  get ready(): boolean {
    return this.#state.ready;
  }

  /** The container started now: the first probe runs once initialDelaySeconds have passed. */
  start(): void {
    this.#schedule(this.#probe.initialDelaySeconds * 1000);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    const started = performance.now();
    const ok = await this.#probeOnce().catch(() => false);
    if (this.#stopped) return;
    const { state, changed } = nextProbeState(this.#state, ok, this.#probe);
    this.#state = state;
    if (changed) this.#onChange(state.ready);
    // The kubelet's ticker keeps its period whatever a probe took.
    this.#schedule(Math.max(0, this.#probe.periodSeconds * 1000 - (performance.now() - started)));
  }
}
