// The lab kubelet's options and the bounds it keeps, as a 1.32 kubelet keeps them (kubelet.ts).

export interface LabKubeletOptions {
  /** Lag between a readiness gate turning True (or False) and the kubelet writing Ready, uniform in [min, max]. */
  readyLagMs?: { min: number; max: number };
  random?: () => number;
  /** Runs a command in a network namespace (NetnsSandbox.exec): readiness probes go out from the node's. */
  exec?: (ns: string, cmd: string, args: string[], opts?: { timeoutMs?: number }) => Promise<string>;
}

/** What a real 1.32 kubelet shows (design §8). */
export const REALISTIC_READY_LAG_MS = { min: 100, max: 300 };
/** The kubelet's minimum shutdown window after preStop (kuberuntime minimumGracePeriodInSeconds). */
export const MIN_GRACE_AFTER_PRESTOP_MS = 2000;
/**
 * Pods whose network and server are being set up at once. Each start is a handful of `ip` and
 * `sysctl` processes forked from the lab process plus a Node process starting; 200 at once on a
 * 2-core machine starved each other past the start timeout and stalled the lab's API server
 * (connect timeouts), so a burst never got to run. A container runtime starts a few at a time
 * as well; Pods past the bound wait their turn, none is refused.
 */
export const POD_STARTS_IN_FLIGHT = 8;
/**
 * Status writes of a released burst in flight at once. A 1.32 kubelet's status manager syncs
 * Pod statuses from one worker, one PATCH after the other (and under QPS 50, burst 100): it
 * never sends 200 at once. The lab's once did, and its one-process API server then answered
 * everyone else (the agents' gate writes) only after the whole burst, up to 5 s later.
 */
export const RELEASE_STATUS_WRITES_IN_FLIGHT = 1;
