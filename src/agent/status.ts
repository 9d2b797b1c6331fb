// The node's PodLBNode: what this agent advertises, its BGP sessions, its members, and three
// conditions. A separate concern from programming (as in Cilium): it only reports, and a
// failure to report never blocks BIRD or the load balancers.
import type { Logger } from 'pino';
import { API_VERSION, type BgpSessionStatus, type Condition, type Node, type PodLBNode } from '../api/types.js';
import { isNotFound, type KubeClient } from '../kube/client.js';

export type PodLBNodeStatus = NonNullable<PodLBNode['status']>;

/** Keeps lastTransitionTime when a condition's status did not change (API conventions). */
export function mergeConditions(previous: readonly Condition[] | undefined, next: readonly Omit<Condition, 'lastTransitionTime'>[], nowIso: string): Condition[] {
  return next.map((c) => {
    const prev = previous?.find((p) => p.type === c.type);
    return { ...c, lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : nowIso };
  });
}

export function bgpReadyCondition(sessions: readonly BgpSessionStatus[], birdError: string | undefined): Omit<Condition, 'lastTransitionTime'> {
  if (birdError) return { type: 'BGPReady', status: 'False', reason: 'BirdUnreachable', message: birdError };
  if (sessions.length === 0) return { type: 'BGPReady', status: 'False', reason: 'NoPeers', message: 'No valid BGPPeer selects this node' };
  const down = sessions.filter((s) => s.state !== 'Established');
  if (down.length > 0) return { type: 'BGPReady', status: 'False', reason: 'SessionsDown', message: `${down.length}/${sessions.length} sessions not Established: ${down.map((s) => `${s.peer} ${s.state}`).join(', ')}` };
  return { type: 'BGPReady', status: 'True', reason: 'Established', message: `${sessions.length} sessions Established` };
}

export class NodeStatusWriter {
  readonly #client: KubeClient;
  readonly #nodeName: string;
  readonly #log: Logger;
  #lastWritten = '';
  #exists = false;
  #current: PodLBNodeStatus | undefined;

  constructor(client: KubeClient, nodeName: string, log: Logger) {
    this.#client = client;
    this.#nodeName = nodeName;
    this.#log = log;
  }

  get current(): PodLBNodeStatus | undefined {
    return this.#current;
  }

  /** Writes `status` when it differs from the last write; creates the object on first use. */
  async write(node: Node | undefined, build: (previous: PodLBNodeStatus | undefined) => PodLBNodeStatus): Promise<void> {
    const path = `/apis/${API_VERSION}/podlbnodes/${this.#nodeName}`;
    try {
      if (!this.#exists) {
        try {
          const obj = await this.#client.get<PodLBNode>(path);
          this.#current = obj.status;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          await this.#client.create(`/apis/${API_VERSION}/podlbnodes`, {
            apiVersion: API_VERSION,
            kind: 'PodLBNode',
            metadata: {
              name: this.#nodeName,
              // Garbage-collected with its Node.
              ...(node?.metadata.uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.#nodeName, uid: node.metadata.uid }] } : {}),
            },
            spec: {},
          });
        }
        this.#exists = true;
      }
      const status = build(this.#current);
      const text = JSON.stringify(status);
      if (text === this.#lastWritten) return;
      await this.#client.patch(`${path}/status`, { status }, 'merge');
      this.#lastWritten = text;
      this.#current = status;
    } catch (err) {
      if (isNotFound(err)) this.#exists = false;
      this.#log.warn({ err: (err as Error).message }, 'could not write PodLBNode status');
    }
  }
}
