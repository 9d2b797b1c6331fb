// When each Pod's conditions first turned True, as the in-process API server committed them:
// the store's watch queues an event in the commit itself and delivers it on the next microtask,
// before any reply to the writer leaves the process, so the time taken here is no later than
// the moment the writer (the agent) can know its write succeeded. Times are wall-clock ms
// (performance.timeOrigin + performance.now()), comparable with the Pod servers' /stats.
import type { ApiServer } from '../src/apiserver/index.js';
import type { Pod } from '../src/api/types.js';

export interface PodConditionTimes {
  /** Pod name → condition type → first commit with status True. */
  trueAt: Map<string, Map<string, number>>;
  at(pod: string, type: string): number | undefined;
  stop(): void;
}

export function recordPodConditionTimes(api: ApiServer, namespace: string, types: readonly string[]): PodConditionTimes {
  const trueAt = new Map<string, Map<string, number>>();
  const stop = api.store.watch('pods', { namespace, resourceVersion: api.store.resourceVersion }, (ev) => {
    const now = performance.timeOrigin + performance.now();
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') return;
    const pod = ev.object as unknown as Pod;
    const name = pod.metadata.name ?? '';
    for (const c of pod.status?.conditions ?? []) {
      if (!types.includes(c.type) || c.status !== 'True') continue;
      const m = trueAt.get(name) ?? new Map<string, number>();
      trueAt.set(name, m);
      if (!m.has(c.type)) m.set(c.type, now);
    }
  });
  return { trueAt, at: (pod, type) => trueAt.get(pod)?.get(type), stop };
}
