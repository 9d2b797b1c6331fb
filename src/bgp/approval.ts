// What an approval covers (design §3): the pool's whole content, i.e. every field of spec but
// `approval` itself. Approving records digests of that content in spec.approval; the agent
// advertises an Approved pool only while its current content still has the recorded digest, so
// an edit after approval (a widened nodeSelector, another advertise mode, a BLACKHOLE
// community, a stripped approval record) stops the pool instead of riding on the old approval,
// whether or not the admission policy is installed.
//
// Canonical form of a value (the input of every digest), deterministic JSON:
//   - objects: keys sorted by UTF-16 code units (Array.prototype.sort), keys whose value is
//     null or absent left out (the API server prunes nulls of non-nullable fields, so a stored
//     object never differs from its request by them), no whitespace;
//   - lists in their order, except the schema's sets (x-kubernetes-list-type: set): spec.cidrs
//     and spec.communities are sorted, since their order means nothing;
//   - strings and numbers as JSON.stringify writes them; text is compared as written (no
//     CIDR or case normalisation: a rewritten CIDR is a change the network team re-approves).
//   - No defaults are applied: the content is what the object says. Writing an explicit default
//     (`advertise: NodeCIDR` where it was unset) is a change. Applying defaults would tie every
//     digest to the defaults of one podlb version: a field added later with a default would
//     make every existing approval stale, or worse, cover a value nobody saw.
// spec.approval.digest = "sha256:" + hex(SHA-256(canonical(content))).
// spec.approval.fieldDigests[f] = "sha256:" + hex(SHA-256(canonical(content[f]))) for each
//   top-level field f of the content; only used to name what changed, never to decide.
//
// Not a signature: whoever may write spec.approval may write a matching digest, as they may
// write `state: Approved`. The admission policy decides who may; the digest makes every other
// edit after approval visible to the agent and void.
import { createHash } from 'node:crypto';
import type { PodAddressPool } from '../api/types.js';

export type ApprovalRecord = NonNullable<PodAddressPool['spec']['approval']>;

/** Fields of spec whose lists are sets (the CRD's x-kubernetes-list-type: set). */
const SET_FIELDS = new Set(['cidrs', 'communities']);

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deterministic JSON of `v` (see the top of this file). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isMap(v)) {
    const keys = Object.keys(v)
      .filter((k) => v[k] !== null && v[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;

/** The approved content: spec without `approval` and without null fields, sets sorted. */
export function approvalContent(spec: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isMap(spec)) return out;
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'approval' || v === null || v === undefined) continue;
    out[k] =
      SET_FIELDS.has(k) && Array.isArray(v)
        ? [...v].sort((a, b) => (canonicalJson(a) < canonicalJson(b) ? -1 : canonicalJson(a) > canonicalJson(b) ? 1 : 0))
        : v;
  }
  return out;
}

export interface ContentDigests {
  digest: string;
  fieldDigests: Record<string, string>;
}

export function contentDigests(spec: unknown): ContentDigests {
  const content = approvalContent(spec);
  const fieldDigests: Record<string, string> = {};
  for (const k of Object.keys(content).sort()) fieldDigests[k] = sha256(canonicalJson(content[k]));
  return { digest: sha256(canonicalJson(content)), fieldDigests };
}

/**
 * The approval record for `spec` as it is now: state Approved, who, why, when and the digests.
 * The one way approvals are made (kubectl podlb approve, the lab's network team, fixtures).
 */
export function approvalFor(spec: unknown, decision: { by: string; reason: string; time: string }): ApprovalRecord & ContentDigests {
  return { state: 'Approved', by: decision.by, reason: decision.reason, time: decision.time, ...contentDigests(spec) };
}

/** `pool` with its current content approved (a copy). */
export function approvePool<T extends PodAddressPool>(pool: T, decision: { by: string; reason: string; time: string }): T {
  return { ...pool, spec: { ...pool.spec, approval: approvalFor(pool.spec, decision) } };
}

export type ApprovalCheck =
  | { ok: true }
  /** `fields`: top-level spec fields that differ from what was approved; empty when not determinable. */
  | { ok: false; why: 'noDigest' | 'changed'; fields: string[] };

/** Whether the content of `spec` is still the content its approval recorded. */
export function checkApproval(spec: unknown): ApprovalCheck {
  const approval = isMap(spec) && isMap(spec.approval) ? spec.approval : {};
  if (typeof approval.digest !== 'string' || approval.digest === '') return { ok: false, why: 'noDigest', fields: [] };
  const now = contentDigests(spec);
  if (now.digest === approval.digest) return { ok: true };
  // Without a per-field record nothing can be named (not every field changed).
  if (!isMap(approval.fieldDigests)) return { ok: false, why: 'changed', fields: [] };
  const recorded = approval.fieldDigests;
  const names = new Set([...Object.keys(recorded).filter((k) => recorded[k] !== null && recorded[k] !== undefined), ...Object.keys(now.fieldDigests)]);
  const fields = [...names].filter((k) => recorded[k] !== now.fieldDigests[k]).sort();
  return { ok: false, why: 'changed', fields: fields.map((f) => `spec.${f}`) };
}
