// The node's PodLBNode: what this agent advertises, its BGP sessions, its members, and three
// conditions. A separate concern from programming (as in Cilium): it only reports, and a
// failure to report never blocks BIRD or the load balancers.
import type { Logger } from 'pino';
import { API_VERSION, type BgpSessionStatus, type Condition, type Node, type PodLBNode } from '../api/types.js';
import { mergeConditions } from '../api/conditions.js';
import type { ObjectRef } from '../api/problem.js';
import { isNotFound, KubeApiError, retryDelayMs, type KubeClient } from '../kube/client.js';
import type { EventToRecord } from '../kube/events.js';
import { backoff } from '../util/backoff.js';

export type PodLBNodeStatus = NonNullable<PodLBNode['status']>;

export function bgpReadyCondition(sessions: readonly BgpSessionStatus[], birdError: string | undefined): Omit<Condition, 'lastTransitionTime'> {
  if (birdError) return { type: 'BGPReady', status: 'False', reason: 'BirdUnreachable', message: birdError };
  if (sessions.length === 0) return { type: 'BGPReady', status: 'False', reason: 'NoPeers', message: 'No valid BGPPeer selects this node' };
  const down = sessions.filter((s) => s.state !== 'Established');
  if (down.length > 0)
    return {
      type: 'BGPReady',
      status: 'False',
      reason: 'SessionsDown',
      message: `${down.length}/${sessions.length} sessions not Established: ${down.map((s) => `${s.peer} ${s.state}`).join(', ')}`,
    };
  return { type: 'BGPReady', status: 'True', reason: 'Established', message: `${sessions.length} sessions Established` };
}

/** What a write did, for the agent to count, report and schedule. */
export interface StatusWriteResult {
  /** The write failed (the agent counts it in podlb_reconcile_errors_total{component="status"}). */
  failed?: { error: string; code: number | undefined; err: unknown };
  /** Record this Event: the first failure of an episode, never every retry. */
  event?: EventToRecord;
  /** Do not try again before this time (ms since epoch); the agent wakes up then. */
  retryAt?: number;
}

export interface StatusWriterOptions {
  now?: () => number;
  random?: () => number;
  /** After a refused write (4xx): the same status would be refused again, so wait long. */
  clientErrorBackoff?: { baseMs: number; maxMs: number };
  /** After a 5xx, 429 or a connection error; never sooner than the server's Retry-After. */
  serverErrorBackoff?: { baseMs: number; maxMs: number };
}

interface FailureEpisode {
  since: string;
  failures: number;
  lastError: string;
}

export const STATUS_REPORTED = 'StatusReported';

export class NodeStatusWriter {
  readonly #client: KubeClient;
  readonly #nodeName: string;
  readonly #log: Logger;
  readonly #o: Required<StatusWriterOptions>;
  #lastWritten = '';
  #exists = false;
  #current: PodLBNodeStatus | undefined;
  #episode: FailureEpisode | undefined;
  /** The summary of the last episode, kept in status until the next one. */
  #recovered: Omit<Condition, 'lastTransitionTime'> | undefined;
  #retryAt = 0;
  #uid: string | undefined;
  /** The write under way, if any. */
  #writing: Promise<unknown> | undefined;

  constructor(client: KubeClient, nodeName: string, log: Logger, opts: StatusWriterOptions = {}) {
    this.#client = client;
    this.#nodeName = nodeName;
    this.#log = log;
    this.#o = {
      now: opts.now ?? Date.now,
      random: opts.random ?? Math.random,
      clientErrorBackoff: opts.clientErrorBackoff ?? { baseMs: 5_000, maxMs: 300_000 },
      serverErrorBackoff: opts.serverErrorBackoff ?? { baseMs: 500, maxMs: 30_000 },
    };
  }

  get current(): PodLBNodeStatus | undefined {
    return this.#current;
  }

  /**
   * The node's PodLBNode's uid, for the Events on it (the agent watches no PodLBNode): known
   * once a write found or made the object; a write under way (the first run's, which makes it)
   * is waited for.
   */
  async uidOf(ref: ObjectRef): Promise<string | undefined> {
    if (ref.apiVersion !== API_VERSION || ref.kind !== 'PodLBNode' || ref.name !== this.#nodeName) return undefined;
    if (this.#uid === undefined) await this.#writing?.catch(() => undefined);
    return this.#uid;
  }

  /**
   * Writes `status` when it differs from the last write; creates the object on first use.
   * Failures back off (long after a 4xx: the server refuses the content, retrying at once only
   * repeats the refusal), and the first write that succeeds after failures carries a
   * StatusReported condition saying how many failed and why.
   */
  write(node: Node | undefined, build: (previous: PodLBNodeStatus | undefined) => PodLBNodeStatus): Promise<StatusWriteResult> {
    const writing = this.#write(node, build);
    this.#writing = writing;
    const done = (): void => {
      if (this.#writing === writing) this.#writing = undefined;
    };
    writing.then(done, done);
    return writing;
  }

  async #write(node: Node | undefined, build: (previous: PodLBNodeStatus | undefined) => PodLBNodeStatus): Promise<StatusWriteResult> {
    const now = this.#o.now();
    if (now < this.#retryAt) return { retryAt: this.#retryAt };
    const path = `/apis/${API_VERSION}/podlbnodes/${this.#nodeName}`;
    try {
      if (!this.#exists) {
        try {
          const obj = await this.#client.get<PodLBNode>(path);
          this.#current = obj.status;
          this.#uid = obj.metadata.uid;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          const made = await this.#client.create<PodLBNode>(`/apis/${API_VERSION}/podlbnodes`, {
            apiVersion: API_VERSION,
            kind: 'PodLBNode',
            metadata: {
              name: this.#nodeName,
              // Garbage-collected with its Node.
              ...(node?.metadata.uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.#nodeName, uid: node.metadata.uid }] } : {}),
            },
            spec: {},
          });
          this.#uid = made.metadata.uid;
        }
        this.#exists = true;
      }
      const nowIso = new Date(now).toISOString();
      const episode = this.#episode;
      const recovered = episode
        ? {
            type: STATUS_REPORTED,
            status: 'True' as const,
            reason: 'RecoveredAfterErrors',
            message: `${episode.failures} status write(s) failed from ${episode.since} to ${nowIso}, the last with: ${episode.lastError}`.slice(0, 2048),
          }
        : this.#recovered;
      const built = build(this.#current);
      let status = built;
      if (recovered) {
        const [cond] = mergeConditions(this.#current?.conditions, [recovered], nowIso);
        status = { ...built, conditions: [...(built.conditions ?? []).filter((c) => c.type !== STATUS_REPORTED), cond!] };
      }
      const text = JSON.stringify(status);
      if (text === this.#lastWritten) return {};
      await this.#client.patch(`${path}/status`, { status }, 'merge');
      this.#lastWritten = text;
      this.#current = status;
      if (episode) {
        this.#log.info({ failures: episode.failures, since: episode.since }, 'PodLBNode status written again');
        this.#episode = undefined;
        this.#recovered = recovered;
      }
      return {};
    } catch (err) {
      if (isNotFound(err)) {
        this.#exists = false;
        this.#uid = undefined;
      }
      const code = err instanceof KubeApiError ? err.status : undefined;
      const error = (err as Error).message;
      const first = this.#episode === undefined;
      this.#episode ??= { since: new Date(now).toISOString(), failures: 0, lastError: '' };
      const episode = this.#episode;
      episode.failures += 1;
      episode.lastError = error;
      const clientError = code !== undefined && code >= 400 && code < 500 && code !== 404 && code !== 409 && code !== 429;
      const delay = retryDelayMs(err, backoff(episode.failures, clientError ? this.#o.clientErrorBackoff : this.#o.serverErrorBackoff, this.#o.random));
      this.#retryAt = now + delay;
      this.#log.warn({ err, failures: episode.failures, retryInMs: Math.round(delay) }, 'could not write PodLBNode status');
      return {
        failed: { error, code, err },
        retryAt: this.#retryAt,
        ...(first
          ? {
              event: {
                object: { apiVersion: API_VERSION, kind: 'PodLBNode', name: this.#nodeName },
                type: 'Warning' as const,
                reason: 'StatusWriteFailed',
                message:
                  `Could not write this node's PodLBNode status: ${error}. Retrying with backoff; status shows the previous state until a write succeeds`.slice(
                    0,
                    1024,
                  ),
              },
            }
          : {}),
      };
    }
  }
}
