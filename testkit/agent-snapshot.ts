// What the agent's reconcilers are handed each run, for their tests: an empty world on a node,
// with what a test gives it, so a field added to AgentSnapshot is added here once.
import type { AgentSnapshot } from '../src/agent/snapshot.js';

export function agentSnapshot(over: Partial<AgentSnapshot> & Pick<AgentSnapshot, 'nodeName'>): AgentSnapshot {
  return {
    node: undefined,
    pods: [],
    services: [],
    slices: [],
    classes: [],
    pools: [],
    peers: [],
    secrets: [],
    gateway: undefined,
    observedAt: 0,
    ...over,
  };
}
