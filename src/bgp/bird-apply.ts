// Applies a rendered bird.conf to a running BIRD (design §5.3): skip when unchanged, write a
// candidate next to the config (0600), `configure check` it, rename it over the config
// atomically, `configure`, and read BIRD's answer back. A refused candidate is removed; the
// old file and the running config stay. Callers log the result: hashes, phases and BIRD's
// messages, never the text.
import { createHash } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { errorMessage, PodlbError } from '../util/errors.js';
import { BirdCommandError, type BirdControl } from './bird-control.js';

export type BirdApplyOutcome = 'Applied' | 'Unchanged' | 'Failed';

export interface BirdApplyResult {
  result: BirdApplyOutcome;
  /** sha256 of the text (hex), for PodLBNode.status.bgp.configHash. */
  hash: string;
  /** BIRD's `file:line:col message`, or why BIRD could not be asked. */
  error?: string;
  /** The Error behind a failure, for logs (type, stack, code) and the failure metric's code. */
  err?: unknown;
  /** BIRD's reply code to the step that decided the outcome (20 check OK, 3/4/5 configure, 8002 ...). */
  birdCode?: number;
  /** Failed because BIRD was unreachable or timed out: retry with backoff. */
  transient?: boolean;
  durationMs: number;
  /** Where durationMs went: writing the candidate, `configure check`, renaming it over the config, `configure`. */
  phasesMs: { write?: number; check?: number; replace?: number; configure?: number };
}

export interface BirdApplierOptions {
  control: BirdControl;
  /** The file BIRD was started with (`bird -c`); `configure` re-reads it. */
  configPath: string;
}

export function configHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export class BirdApplier {
  readonly #control: BirdControl;
  readonly #configPath: string;
  readonly #candidatePath: string;
  /** Text BIRD is known to run; undefined until learned (from disk on the first apply). */
  #applied: string | undefined;
  #learned = false;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: BirdApplierOptions) {
    this.#control = opts.control;
    this.#configPath = opts.configPath;
    // Deterministic name, so error messages (which quote it) do not churn between retries.
    this.#candidatePath = `${opts.configPath}.podlb-candidate`;
  }

  get candidatePath(): string {
    return this.#candidatePath;
  }

  /** Hash of the text BIRD is known to run, if any. */
  get appliedHash(): string | undefined {
    return this.#applied === undefined ? undefined : configHash(this.#applied);
  }

  /** Serialised: concurrent calls apply one after the other, the last one wins. */
  apply(text: string): Promise<BirdApplyResult> {
    const run = this.#queue.then(() => this.#apply(text));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * `configure check` of `text` alone: nothing is replaced or configured (finding the session
   * BIRD refuses, bird-isolate.ts). Serialised with apply, as both use the candidate file.
   */
  check(text: string): Promise<{ ok: true } | { ok: false; error: string; transient?: boolean }> {
    const run = this.#queue.then(async () => {
      try {
        await writePrivate(this.#candidatePath, text);
        await this.#control.configureCheck(this.#candidatePath);
        return { ok: true as const };
      } catch (err) {
        const f = failure(err);
        return { ok: false as const, error: f.error ?? 'configure check failed', ...(f.transient ? { transient: true } : {}) };
      } finally {
        await unlink(this.#candidatePath).catch(() => undefined);
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #apply(text: string): Promise<BirdApplyResult> {
    const start = performance.now();
    const hash = configHash(text);
    const phasesMs: BirdApplyResult['phasesMs'] = {};
    let mark = start;
    const phase = (name: keyof BirdApplyResult['phasesMs']): void => {
      const now = performance.now();
      phasesMs[name] = now - mark;
      mark = now;
    };
    const done = (r: Omit<BirdApplyResult, 'hash' | 'durationMs' | 'phasesMs'>): BirdApplyResult => ({
      ...r,
      hash,
      durationMs: performance.now() - start,
      phasesMs,
    });

    if (!this.#learned) {
      // A fresh start (agent restarted, BIRD kept running): the file on disk is what BIRD
      // loaded, because it is only replaced by a candidate BIRD accepted.
      this.#applied = await readFile(this.#configPath, 'utf8').catch(() => undefined);
      this.#learned = true;
    }
    if (this.#applied === text) return done({ result: 'Unchanged' });

    mark = performance.now();
    try {
      await writePrivate(this.#candidatePath, text);
      phase('write');
    } catch (err) {
      return done({ result: 'Failed', error: `cannot write ${this.#candidatePath}: ${errorMessage(err)}`, err });
    }

    let checkCode: number;
    try {
      checkCode = (await this.#control.configureCheck(this.#candidatePath)).code;
      phase('check');
    } catch (err) {
      await unlink(this.#candidatePath).catch(() => undefined);
      return done(failure(err));
    }

    try {
      await rename(this.#candidatePath, this.#configPath);
      phase('replace');
    } catch (err) {
      await unlink(this.#candidatePath).catch(() => undefined);
      return done({ result: 'Failed', error: `cannot replace ${this.#configPath}: ${errorMessage(err)}`, birdCode: checkCode, err });
    }
    // From here the file holds the new text; until BIRD confirms, it is not what BIRD runs.
    this.#applied = undefined;
    try {
      const r = await this.#control.configure();
      phase('configure');
      this.#applied = text;
      return done({ result: 'Applied', birdCode: r.code });
    } catch (err) {
      return done(failure(err));
    }
  }
}

function failure(err: unknown): Omit<BirdApplyResult, 'hash' | 'durationMs' | 'phasesMs'> {
  if (err instanceof BirdCommandError) return { result: 'Failed', error: err.birdText, birdCode: err.birdCode, err };
  const transient = err instanceof PodlbError && err.transient;
  return { result: 'Failed', error: errorMessage(err), err, ...(transient ? { transient: true } : {}) };
}

// No fsync: BIRD reads the candidate through the page cache, so `configure check` and
// `configure` see it without one, and the file only has to outlive the agent, not the node
// (production keeps it on tmpfs under /run; after a power loss the agent renders it again).
// On a disk-backed directory the fsync cost 1.5 ms at p50 but 50-430 ms at p99 (bench
// hostRouteApply_write), most of the 150 ms budget for one host-route change.
async function writePrivate(path: string, text: string): Promise<void> {
  await unlink(path).catch(() => undefined);
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(text);
  } finally {
    await fh.close();
  }
}
