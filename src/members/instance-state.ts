// What the member reconciler keeps per load-balancer instance across runs (its client, its
// failures, and the observation model of observe.ts), and what one run hands each instance.
import type { LbInstance, LbInstanceRef } from '../lb/provider.js';
import type { LbClassModel } from './binding.js';
import type { Observation } from './observe.js';
import type { MemberOutcome } from './outcome.js';

export interface InstanceState extends Observation {
  ref: LbInstanceRef;
  inst: LbInstance;
  failures: number;
  nextRetryAt: number;
  /** The last failure, kept as the Error so logs and metrics still have its type and code. */
  lastErr?: unknown;
}

/** One run's shared output and wake-up, handed to each instance's part of the run. */
export interface Run {
  out: MemberOutcome;
  now: number;
  wake: (t: number) => void;
}

export function defaultInstanceRefs(cls: LbClassModel): LbInstanceRef[] {
  return cls.instances.map((id) => ({ className: cls.name, provider: cls.provider, id }));
}
