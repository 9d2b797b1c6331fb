// The body of Octavia's batch member update, and whether one is needed. Pure.
//
// `PUT /v2/lbaas/pools/{pool_id}/members` (octavia/api/v2/controllers/member.py,
// MembersController.put, checked at openstack/octavia 0e6ea11c) sets the pool to exactly the
// listed members:
// - members are matched by (address, protocol_port); a listed pair that exists is an update,
//   a new pair a create, and every existing pair not listed is deleted (PENDING_DELETE) unless
//   `additive_only=true`. The same pair twice is a 400 ("Member must be updated only once").
// - each item is a MemberPOST; an update stores `m.to_dict(render_unsets=False)`, so a field
//   with a default that the item omits is RESET to it: weight → 1, admin_state_up → true,
//   backup → false, monitor_address/monitor_port → null. (name, tags and subnet_id have no
//   default and are kept when omitted.) A draining member sent without `weight: 0` would take
//   traffic again, so every item here carries every such field as podlb wants it.
// - it is a no-op without a lock only when nothing is created, updated or deleted; but every
//   listed member that exists counts as "updated", even when no field changes. So a batch
//   equal to the pool's state still locks the load balancer: `batchChanges` decides whether to
//   send one at all.
// - the load balancer is locked first (`_test_lb_and_listener_and_pool_statuses`): while it or
//   the pool is PENDING_* the whole request is refused with 409 "... is immutable", noop or not.
import { isIP } from 'node:net';
import { parseMemberName } from './naming.js';
import { MAX_TAG, nodeTag, TAG_PODLB } from './octavia-tags.js';

/** A member as `GET /v2/lbaas/pools/{pool_id}/members` shows it (the fields read here). */
export interface PoolMemberRecord {
  id: string;
  name: string;
  address: string;
  protocol_port: number;
  weight: number;
  admin_state_up: boolean;
  backup?: boolean;
  monitor_address?: string | null;
  monitor_port?: number | null;
  provisioning_status: string;
  operating_status: string;
  tags?: string[];
}

/** One item of the batch body: every field with a default is sent (see above). */
export interface BatchMember {
  name: string;
  address: string;
  protocol_port: number;
  weight: number;
  admin_state_up: boolean;
  backup: false;
  monitor_address: null;
  monitor_port: null;
  tags: string[];
}

/** The pool's members split by owner: podlb members by node, and everything else. */
export interface PoolMembersByOwner {
  byNode: Map<string, PoolMemberRecord[]>;
  /** Members podlb did not make (a name it does not make, or without the node's tags). */
  foreign: PoolMemberRecord[];
}

/** A member is a podlb member of node N when its name encodes N and it carries `podlb` + N's tag. */
export function splitByOwner(members: readonly PoolMemberRecord[]): PoolMembersByOwner {
  const byNode = new Map<string, PoolMemberRecord[]>();
  const foreign: PoolMemberRecord[] = [];
  for (const m of members) {
    const parsed = parseMemberName(m.name);
    const ours =
      parsed !== undefined &&
      parsed.address === m.address &&
      parsed.port === m.protocol_port &&
      (m.tags ?? []).includes(TAG_PODLB) &&
      (m.tags ?? []).includes(nodeTag(parsed.node));
    if (!ours) {
      foreign.push(m);
      continue;
    }
    byNode.set(parsed.node, [...(byNode.get(parsed.node) ?? []), m]);
  }
  return { byNode, foreign };
}

/** What podlb wants of the pool, relative to what it holds now. */
export interface PoolChanges {
  /** Member names to delete. */
  remove: ReadonlySet<string>;
  /** Member name → weight (0 drains, 1 takes traffic again). */
  weight: ReadonlyMap<string, number>;
  /** `weight` 0: a warming member (health-checked, no traffic); default 1. */
  add: readonly { node: string; name: string; address: string; port: number; weight?: number }[];
}

function item(name: string, address: string, port: number, weight: number, adminUp: boolean, node: string): BatchMember {
  return {
    name,
    address,
    protocol_port: port,
    weight,
    admin_state_up: adminUp,
    backup: false,
    monitor_address: null,
    monitor_port: null,
    tags: [TAG_PODLB, nodeTag(node)],
  };
}

export class BatchBodyError extends Error {}

/**
 * The pool's whole member list after `changes`, from its podlb members as they are. A member
 * not changed keeps its weight and admin_state_up (an operator's admin-down is kept; a drained
 * member stays at weight 0). Sorted, so the same state gives the same body.
 */
export function batchBody(current: ReadonlyMap<string, readonly PoolMemberRecord[]>, changes: PoolChanges): BatchMember[] {
  const out = new Map<string, BatchMember>();
  for (const [node, list] of current) {
    for (const m of list) {
      if (changes.remove.has(m.name)) continue;
      out.set(`${m.address}|${m.protocol_port}`, item(m.name, m.address, m.protocol_port, changes.weight.get(m.name) ?? m.weight, m.admin_state_up, node));
    }
  }
  for (const a of changes.add) {
    const key = `${a.address}|${a.port}`;
    if (out.has(key)) throw new BatchBodyError(`member ${a.name}: ${a.address}:${a.port} is already in the pool as ${out.get(key)!.name}`);
    out.set(key, item(a.name, a.address, a.port, a.weight ?? 1, true, a.node));
  }
  const body = [...out.values()];
  for (const m of body) {
    if (isIP(m.address) === 0) throw new BatchBodyError(`member ${m.name}: ${JSON.stringify(m.address)} is not an IP address`);
    if (!Number.isInteger(m.protocol_port) || m.protocol_port < 1 || m.protocol_port > 65535) throw new BatchBodyError(`member ${m.name}: bad port`);
    if (m.name.length > MAX_TAG || m.tags.some((t) => t.length > MAX_TAG)) throw new BatchBodyError(`member ${m.name}: longer than Octavia's 255 characters`);
  }
  return body.sort((a, b) => a.address.localeCompare(b.address) || a.protocol_port - b.protocol_port);
}

export interface BatchDiff {
  create: number;
  update: number;
  delete: number;
}

function sameTags(a: readonly string[] | undefined, b: readonly string[]): boolean {
  const x = [...(a ?? [])].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((t, i) => t === y[i]);
}

/** What sending `body` would change in a pool holding `current` (all its members, foreign ones too). */
export function batchChanges(current: readonly PoolMemberRecord[], body: readonly BatchMember[]): BatchDiff {
  const byPair = new Map(current.map((m) => [`${m.address}|${m.protocol_port}`, m]));
  const listed = new Set<string>();
  const diff: BatchDiff = { create: 0, update: 0, delete: 0 };
  for (const b of body) {
    const key = `${b.address}|${b.protocol_port}`;
    listed.add(key);
    const m = byPair.get(key);
    if (!m) {
      diff.create += 1;
      continue;
    }
    const same =
      m.name === b.name &&
      m.weight === b.weight &&
      m.admin_state_up === b.admin_state_up &&
      (m.backup ?? false) === b.backup &&
      (m.monitor_address ?? null) === b.monitor_address &&
      (m.monitor_port ?? null) === b.monitor_port &&
      sameTags(m.tags, b.tags);
    if (!same) diff.update += 1;
  }
  for (const key of byPair.keys()) if (!listed.has(key)) diff.delete += 1;
  return diff;
}

/** Whether the batch would change anything: only then is it worth a lock cycle. */
export function batchNeeded(d: BatchDiff): boolean {
  return d.create + d.update + d.delete > 0;
}
