// Hold-down for what a BGP session rests on but no object decides: the node's default gateway
// (a `Gateway` peer's address) and the password BIRD runs a session with. A default route that
// is replaced, a link that flaps, or a password Secret deleted and re-created by a careless
// apply, used to drop the session at once: BIRD sends a Cease and the ToR flushes the node's
// routes (graceful restart does not cover a deliberate removal). Through such a gap the last
// known good value is kept for the hold-down and reported; only a changed object (the BGPPeer
// deleted, its selector or passwordSecretRef changed) takes effect at once. Pure: the clock is
// passed in.
import { problem, type Problem } from '../api/problem.js';
import type { BirdPassword } from '../bgp/bird-values.js';
import type { BirdModel } from '../bgp/model.js';
import type { PeerConfig } from '../bgp/peer-config.js';

/** How long a vanished gateway or password is held; long enough for a route replace or a re-apply, short enough to follow a real move. */
export const HOLD_DOWN_MS = 45_000;

export interface Held<T> {
  readonly value: T;
  /** When the value went missing (ms since epoch). */
  readonly since: number;
  /** When the hold ends and the value is dropped, unless it comes back. */
  readonly until: number;
}

/**
 * Per key, the value that is missing now but was good before, for `holdMs`. The good value is
 * the caller's (what runs), so only the start of each gap is remembered here.
 */
export class HoldDown<T> {
  readonly #holdMs: number;
  readonly #missingSince = new Map<string, number>();

  constructor(holdMs: number = HOLD_DOWN_MS) {
    this.#holdMs = holdMs;
  }

  /**
   * `current` present: it is used and any gap ends. Missing with a last good value: held until
   * the hold-down ends, then undefined (the fault takes effect). Missing with none: undefined.
   */
  resolve(key: string, current: T | undefined, lastGood: T | undefined, now: number): { value: T | undefined; held?: Held<T> } {
    if (current !== undefined) {
      this.#missingSince.delete(key);
      return { value: current };
    }
    if (lastGood === undefined) {
      this.#missingSince.delete(key);
      return { value: undefined };
    }
    const since = this.#missingSince.get(key) ?? now;
    this.#missingSince.set(key, since);
    const until = since + this.#holdMs;
    return now < until ? { value: lastGood, held: { value: lastGood, since, until } } : { value: undefined };
  }

  /** The object says so (deleted, the field removed): no hold for this key. */
  forget(key: string): void {
    this.#missingSince.delete(key);
  }

  /** Forgets every key but these. */
  retain(keys: Iterable<string>): void {
    const keep = new Set(keys);
    for (const k of [...this.#missingSince.keys()]) if (!keep.has(k)) this.#missingSince.delete(k);
  }
}

export type HeldPassword = Held<BirdPassword> & { readonly peer: string };

/** A Secret that vanished or turned invalid: a gap. A BGPPeer whose passwordSecretRef is malformed is its object saying something. */
const PASSWORD_GAPS = new Set(['PasswordSecretNotFound', 'InvalidPassword']);

/**
 * The peers with the running password kept for those whose Secret went missing or invalid
 * while BIRD runs their session with a password, for the hold-down; each held one is reported
 * on its BGPPeer. `running`: the model BIRD runs.
 */
export function holdPasswords(
  peers: readonly PeerConfig[],
  running: BirdModel | undefined,
  hold: HoldDown<BirdPassword>,
  now: number,
): { peers: PeerConfig[]; problems: Problem[]; held: HeldPassword[] } {
  const out: PeerConfig[] = [];
  const problems: Problem[] = [];
  const held: HeldPassword[] = [];
  for (const p of peers) {
    const gap = p.passwordProblem && PASSWORD_GAPS.has(p.passwordProblem.reason) ? p.passwordProblem : undefined;
    if (!gap) {
      hold.forget(p.name);
      out.push(p);
      continue;
    }
    const r = hold.resolve(p.name, undefined, running?.peers.find((x) => x.peer === p.name)?.password, now);
    if (!r.held) {
      out.push(p);
      continue;
    }
    const { passwordProblem: _gap, ...rest } = p;
    out.push({ ...rest, password: r.held.value });
    held.push({ peer: p.name, ...r.held });
    const why = gap.message.replace(/; the session is not configured$/, '');
    problems.push(
      problem(
        p.obj,
        gap.field,
        'PasswordHeld',
        `${why}; the running session keeps its password until ${new Date(r.held.until).toISOString()} instead of being torn down, then it is removed: restore the Secret or change spec.passwordSecretRef`,
      ),
    );
  }
  hold.retain(peers.map((p) => p.name));
  return { peers: out, problems, held };
}
