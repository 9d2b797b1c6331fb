// How podlb marks what it owns in Octavia: the tags on a member (`podlb` + `podlb-node:<node>`),
// the tags a listing filters on, and the instance id the reconciler keys an Octavia LB by.
// Kept apart from OctaviaInstance so callers that only need the names (class binding) do not
// load the API client.
import { createHash } from 'node:crypto';

export const TAG_PODLB = 'podlb';
const NODE_TAG_PREFIX = 'podlb-node:';
/** Octavia tags and names: at most 255 characters. */
export const MAX_TAG = 255;

/** The tag that marks a node's members. Node names up to 244 characters fit; longer ones are hashed. */
export function nodeTag(nodeName: string): string {
  const t = `${NODE_TAG_PREFIX}${nodeName}`;
  return t.length <= MAX_TAG ? t : `podlb-node-sha256:${createHash('sha256').update(nodeName).digest('hex')}`;
}

/** The LbInstance id of an Octavia load balancer: what the reconciler keys instances by. */
export function octaviaInstanceId(loadBalancerID: string, region?: string): string {
  return `octavia://${region ?? ''}/${loadBalancerID}`;
}

/** Tags a listing filters on: both podlb tags when the prefix names a node, else just `podlb`. */
export function listTags(namePrefix: string): string[] {
  const m = /^podlb_([a-z0-9.-]+)_$/.exec(namePrefix);
  return m ? [TAG_PODLB, nodeTag(m[1]!)] : [TAG_PODLB];
}

/**
 * The pool tag by which an operator hands a whole pool to podlb: its member list is then set
 * by one writer, the controller's leader, in one batch update per cycle, and the agents stop
 * writing into it (they still read their members' health). A pool without it is never
 * batch-written: a batch update deletes every member it does not list, whoever made it.
 */
export const TAG_POOL_OWNED = 'podlb-owned';

export function isPodlbOwnedPool(tags: readonly string[] | undefined): boolean {
  return tags?.includes(TAG_POOL_OWNED) ?? false;
}
