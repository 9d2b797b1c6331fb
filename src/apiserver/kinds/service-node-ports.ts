// Service nodePorts as Kubernetes 1.32 hands them out and takes them back
// (pkg/registry/core/service/storage/alloc.go initNodePorts and updateNodePorts, storage.go
// patchAllocatedValues, strategy.go dropTypeDependentFields, validation.go ValidateService):
// - a NodePort or LoadBalancer Service gets a nodePort for every port without one, on create
//   and on an update that makes it one (ClusterIP → NodePort); a LoadBalancer with
//   allocateLoadBalancerNodePorts false gets only those it names;
// - a named nodePort must be in 30000-32767 and held by no other Service;
// - an update that leaves out the nodePorts of a Service that keeps needing them keeps them
//   (by port name), so a client resubmitting its YAML does not lose them;
// - an update to ClusterIP or ExternalName that keeps the nodePorts as they were clears them
//   (released); one that names a new nodePort on a ClusterIP Service is Forbidden.
// What a Service holds is read from the stored Services, so a refused or dry-run write holds
// nothing and a deleted or changed Service gives its ports back at once.
import { duplicate, failure, type FieldError, forbiddenField, internalError, invalid, invalidError } from '../errors.js';
import type { Obj, StrategyContext } from '../resource-type.js';

export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

/** The port entries as sent, indices kept; an entry that is no object is validation's to refuse. */
const portsOf = (s: Obj): Obj[] => (Array.isArray(s.spec?.ports) ? s.spec.ports.map((p: unknown) => (p && typeof p === 'object' ? p : {})) : []);
const isSet = (n: unknown): n is number => typeof n === 'number' && n !== 0;

export const needsNodePort = (s: Obj): boolean => s.spec?.type === 'NodePort' || s.spec?.type === 'LoadBalancer';

/** Ports without a nodePort get one allocated (else only the named ones are held). */
const shouldAllocate = (s: Obj): boolean => s.spec?.type === 'NodePort' || (s.spec?.type === 'LoadBalancer' && s.spec.allocateLoadBalancerNodePorts !== false);

const nodePortsOf = (s: Obj): Set<number> =>
  new Set(
    portsOf(s)
      .map((p) => p.nodePort)
      .filter(isSet),
  );

/** One write's allocations (portallocator.PortAllocationOperation), against what is held already. */
class Allocation {
  readonly #taken: Set<number>;
  readonly #ctx: StrategyContext;
  readonly #name: string;

  constructor(s: Obj, ctx: StrategyContext, alsoHeld: Iterable<number> = []) {
    this.#ctx = ctx;
    this.#name = s.metadata?.name ?? '';
    this.#taken = new Set(alsoHeld);
    for (const o of ctx.stored('services')) {
      if (o.metadata.namespace === s.metadata?.namespace && o.metadata.name === this.#name) continue;
      for (const n of nodePortsOf(o)) this.#taken.add(n);
    }
  }

  /** A nodePort the client named, for ports[i]. */
  take(n: number, i: number): void {
    const refuse = (detail: string) => invalidError('', 'Service', this.#name, [invalid(`spec.ports[${i}].nodePort`, n, detail)]);
    if (!Number.isInteger(n) || n < NODE_PORT_MIN || n > NODE_PORT_MAX)
      throw refuse(`provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`);
    if (this.#taken.has(n)) throw refuse('provided port is already allocated');
    this.#taken.add(n);
  }

  next(): number {
    const n = this.#ctx.nextNodePort(this.#taken);
    if (n === undefined) throw internalError('failed to allocate a nodePort: range is full');
    this.#taken.add(n);
    return n;
  }
}

/** Create (initNodePorts): ports of the same number share one nodePort, the one named if any. */
export function allocateNodePortsOnCreate(s: Obj, ctx: StrategyContext): void {
  if (!needsNodePort(s)) return;
  const op = new Allocation(s, ctx);
  const byPort = new Map<unknown, number>();
  const ports = portsOf(s);
  ports.forEach((p, i) => {
    if (!isSet(p.nodePort) && !shouldAllocate(s)) return;
    const given = byPort.get(p.port);
    if (given === undefined) {
      const named = ports.find((q) => q.port === p.port && isSet(q.nodePort))?.nodePort as number | undefined;
      if (named !== undefined) op.take(named, i);
      p.nodePort = named ?? op.next();
      byPort.set(p.port, p.nodePort);
    } else if (p.nodePort !== given) {
      if (isSet(p.nodePort)) op.take(p.nodePort, i);
      else p.nodePort = given;
    }
  });
}

/**
 * Update: keep what the client left out, allocate on a type change to NodePort/LoadBalancer,
 * release on one away from them. Runs before validation, as the real BeginUpdate does.
 */
export function allocateNodePortsOnUpdate(s: Obj, old: Obj, ctx: StrategyContext): void {
  const before = nodePortsOf(old);
  if (needsNodePort(old) && needsNodePort(s)) {
    // patchAllocatedValues: by port name, unless another port of the request took that nodePort
    const kept = new Set([...nodePortsOf(s)].filter((n) => before.has(n)));
    const byName = new Map(portsOf(old).map((p) => [p.name ?? '', p.nodePort]));
    for (const p of portsOf(s)) {
      const was = byName.get(p.name ?? '');
      if (!isSet(p.nodePort) && isSet(was) && !kept.has(was)) p.nodePort = was;
    }
  }
  if (needsNodePort(s)) {
    // updateNodePorts: the old ones are held until this write commits, so never handed out again here
    const op = new Allocation(s, ctx, before);
    const named = new Set<number>();
    const seen = new Set<string>();
    portsOf(s).forEach((p, i) => {
      if (!isSet(p.nodePort)) {
        if (!shouldAllocate(s)) return;
        p.nodePort = op.next();
      } else if (!before.has(p.nodePort) && !named.has(p.nodePort)) {
        op.take(p.nodePort, i);
        named.add(p.nodePort);
      }
      // Refused here, before validation could say Duplicate: a plain Go error, so a 500 without reason.
      const key = `{${p.protocol} ${p.nodePort}}`;
      if (seen.has(key)) throw failure(500, '', `duplicate nodePort: ${key}`);
      seen.add(key);
    });
  } else if (needsNodePort(old) && [...nodePortsOf(s)].every((n) => before.has(n))) {
    // dropTypeDependentFields: the client did not change them, so they were not asked for
    for (const p of portsOf(s)) delete p.nodePort;
  }
}

/** ValidateService: nodePorts on a ClusterIP Service, and one (protocol, nodePort) twice. */
export function nodePortProblems(s: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const ports = portsOf(s);
  if (s.spec?.type === 'ClusterIP')
    ports.forEach((p, i) => {
      if (isSet(p.nodePort)) errs.push(forbiddenField(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
    });
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    if (!isSet(p.nodePort)) return;
    const key = `${p.protocol}/${p.nodePort}`;
    if (seen.has(key)) errs.push(duplicate(`spec.ports[${i}].nodePort`, p.nodePort));
    seen.add(key);
  });
  return errs;
}
