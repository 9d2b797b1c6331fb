// Leader election on a coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics
// (k8s.io/client-go/tools/leaderelection):
// - leaseDurationSeconds: how long a candidate waits, after it last *saw the record change*
//   (its own clock, never the holder's timestamps: clocks are not compared across machines),
//   before it may take the Lease over.
// - renewDeadline: how long the leader keeps retrying to renew before it gives up leading.
//   It must be shorter than the lease duration, so the old leader has stopped before anyone
//   else may start. Measured from when the last successful renewal was *sent* (the server
//   wrote it after that, so every other candidate saw it after that too).
// - retryPeriod: the pause between attempts (jittered up to 1.2x while acquiring).
// Every write is a PUT carrying the resourceVersion it read: two candidates that race get one
// success and one 409, never two leaders. A holder that finds the Lease held by someone else
// stops leading at once.
import type { Logger } from 'pino';
import { isConflict, isNotFound, type KubeClient } from '../kube/client.js';
import { PodlbError } from '../util/errors.js';
import { jitter } from '../util/backoff.js';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  spec?: LeaseSpec;
}

/** The part of KubeClient the elector uses (tests wrap it to partition one candidate). */
export type LeaseClient = Pick<KubeClient, 'request'>;

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** What a candidate may do with the Lease it just read. Decisions explain themselves. */
export type LeaseVerdict =
  | { kind: 'create'; spec: LeaseSpec }
  | { kind: 'update'; spec: LeaseSpec; transition: boolean }
  | { kind: 'heldByOther'; holder: string; expiresAt: number };

/**
 * Pure: `observedAt` is when this candidate first saw the current record (its own clock).
 * An empty holderIdentity (a released Lease) can be taken at once.
 */
export function decideLease(
  current: LeaseSpec | undefined,
  o: { identity: string; now: number; observedAt: number; leaseDurationSeconds: number },
): LeaseVerdict {
  const nowText = microTime(o.now);
  if (!current) {
    return {
      kind: 'create',
      spec: { holderIdentity: o.identity, leaseDurationSeconds: o.leaseDurationSeconds, acquireTime: nowText, renewTime: nowText, leaseTransitions: 0 },
    };
  }
  const holder = current.holderIdentity ?? '';
  const isMine = holder === o.identity;
  if (holder !== '' && !isMine) {
    const expiresAt = o.observedAt + (current.leaseDurationSeconds ?? o.leaseDurationSeconds) * 1000;
    if (expiresAt > o.now) return { kind: 'heldByOther', holder, expiresAt };
  }
  const transitions = current.leaseTransitions ?? 0;
  return {
    kind: 'update',
    transition: !isMine,
    spec: {
      holderIdentity: o.identity,
      leaseDurationSeconds: o.leaseDurationSeconds,
      acquireTime: isMine && current.acquireTime ? current.acquireTime : nowText,
      renewTime: nowText,
      leaseTransitions: isMine ? transitions : transitions + 1,
    },
  };
}

export interface LeaderElectorOptions {
  client: LeaseClient;
  namespace: string;
  name: string;
  /** Unique per candidate: the Pod name. */
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  /** Called when this candidate becomes leader. */
  onStartedLeading: () => void;
  /** Called (and awaited) when it stops: lost the Lease, or stop(). The Lease is released after it. */
  onStoppedLeading: () => void | Promise<void>;
  /** A different holder was observed (or the Lease was released: ''). */
  onNewLeader?: (identity: string) => void;
  now?: () => number;
  random?: () => number;
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectorOptions, 'onNewLeader'>> & Pick<LeaderElectorOptions, 'onNewLeader'>;
  readonly #path: string;
  #observedRaw = '';
  #observedAt = 0;
  #observedHolder: string | undefined;
  #leading = false;
  #stopped = true;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  /** Transitions seen by this candidate (tests, metrics). */
  readonly stats = { acquired: 0, lost: 0, conflicts: 0, errors: 0 };

  constructor(opts: LeaderElectorOptions) {
    if (!Number.isInteger(opts.leaseDurationSeconds) || opts.leaseDurationSeconds < 1)
      throw new PodlbError('LEADER_ELECTION_CONFIG', 'leaseDurationSeconds must be a whole number >= 1');
    if (!(opts.renewDeadlineMs < opts.leaseDurationSeconds * 1000))
      throw new PodlbError('LEADER_ELECTION_CONFIG', 'renewDeadline must be shorter than leaseDuration');
    if (!(opts.retryPeriodMs * 1.2 < opts.renewDeadlineMs))
      throw new PodlbError('LEADER_ELECTION_CONFIG', 'renewDeadline must be longer than 1.2 x retryPeriod');
    this.#o = { now: Date.now, random: Math.random, ...opts };
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${opts.namespace}/leases/${opts.name}`;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** The holder last observed in the Lease ('' when released), undefined before the first read. */
  get leader(): string | undefined {
    return this.#leading ? this.#o.identity : this.#observedHolder;
  }

  get identity(): string {
    return this.#o.identity;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /** Stops campaigning; a leader stops leading (callback awaited) and then releases the Lease. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    if (opts.release ?? true) await this.#release();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      // Acquire.
      while (!this.#stopped) {
        if (await this.#tryAcquireOrRenew()) break;
        await this.#sleep(jitter(this.#o.retryPeriodMs, [1, 1.2], this.#o.random));
      }
      if (this.#stopped) return;
      this.#leading = true;
      this.stats.acquired += 1;
      this.#o.log.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity }, 'became leader');
      this.#o.onStartedLeading();

      // Renew until the deadline passes without a successful renewal, or someone else holds it.
      let lastRenewSent = this.#o.now();
      let why = 'stopped';
      while (!this.#stopped) {
        await this.#sleep(this.#o.retryPeriodMs);
        if (this.#stopped) break;
        const sent = this.#o.now();
        const left = lastRenewSent + this.#o.renewDeadlineMs - sent;
        const ok = left > 0 ? await this.#withDeadline(this.#tryAcquireOrRenew(), left) : false;
        if (ok === true) {
          lastRenewSent = sent;
          continue;
        }
        if (this.#observedHolder !== undefined && this.#observedHolder !== this.#o.identity && this.#observedHolder !== '') {
          why = `the Lease is held by ${this.#observedHolder}`;
          break;
        }
        if (this.#o.now() - lastRenewSent >= this.#o.renewDeadlineMs) {
          why = `no successful renewal within renewDeadline (${this.#o.renewDeadlineMs} ms)`;
          break;
        }
      }
      this.#leading = false;
      this.stats.lost += 1;
      this.#o.log.warn({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity, why }, 'stopped leading');
      try {
        await this.#o.onStoppedLeading();
      } catch (err) {
        this.#o.log.error({ err }, 'onStoppedLeading failed');
      }
    }
  }

  /** Resolves the attempt's result, or 'timeout' when the renew deadline passes first. */
  async #withDeadline(p: Promise<boolean>, ms: number): Promise<boolean | 'timeout'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #observe(lease: Lease | undefined): void {
    const spec = lease?.spec;
    const raw = JSON.stringify(spec ?? null);
    if (raw !== this.#observedRaw) {
      this.#observedRaw = raw;
      this.#observedAt = this.#o.now();
    }
    const holder = spec?.holderIdentity ?? '';
    if (holder !== this.#observedHolder) {
      this.#observedHolder = holder;
      if (holder !== this.#o.identity) this.#o.onNewLeader?.(holder);
    }
  }

  /** One GET and at most one conflict-checked write. Never throws. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client, identity, leaseDurationSeconds, log } = this.#o;
    try {
      let current: Lease | undefined;
      try {
        current = await client.request<Lease>('GET', this.#path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.#observe(current);
      const verdict = decideLease(current?.spec, { identity, now: this.#o.now(), observedAt: this.#observedAt, leaseDurationSeconds });
      if (verdict.kind === 'heldByOther') return false;
      if (verdict.kind === 'create') {
        const created = await client.request<Lease>('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases`, {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.#o.name, namespace: this.#o.namespace }, spec: verdict.spec },
        });
        this.#observe(created);
        return true;
      }
      const updated = await client.request<Lease>('PUT', this.#path, {
        body: { ...current, spec: verdict.spec },
      });
      this.#observe(updated);
      if (verdict.transition)
        log.info({ lease: `${this.#o.namespace}/${this.#o.name}`, from: current?.spec?.holderIdentity || '(released)' }, 'took over the Lease');
      return true;
    } catch (err) {
      if (isConflict(err) || (err as { status?: number }).status === 409) {
        // Someone else wrote first (AlreadyExists on create, Conflict on update): re-read next time.
        this.stats.conflicts += 1;
        log.debug({ err }, 'lease write lost a race');
      } else {
        this.stats.errors += 1;
        log.warn({ err }, 'lease read or write failed');
      }
      return false;
    }
  }

  /** client-go's ReleaseOnCancel: empty holder, so another candidate takes over without waiting. */
  async #release(): Promise<void> {
    try {
      const current = await this.#o.client.request<Lease>('GET', this.#path);
      if (current.spec?.holderIdentity !== this.#o.identity) return;
      const now = microTime(this.#o.now());
      await this.#o.client.request<Lease>('PUT', this.#path, {
        body: { ...current, spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now } },
      });
      this.#o.log.info({ lease: `${this.#o.namespace}/${this.#o.name}` }, 'released the Lease');
    } catch (err) {
      if (!isNotFound(err)) this.#o.log.warn({ err }, 'could not release the Lease; others take over when it expires');
    }
  }
}
