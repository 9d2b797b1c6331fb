// The calls the controller's batch writer makes to one Octavia load balancer: its provisioning
// status, its pools (with their tags, which say whether podlb owns them), a pool's whole member
// list, and the batch update itself. No decisions here (octavia-batch.ts builds the body).
// A 409 "immutable" is returned, not retried: the writer waits for ACTIVE and then sends the
// whole set again, so whatever changed meanwhile rides in the same lock cycle.
import type { BatchMember, PoolMemberRecord } from './octavia-batch.js';
import type { OctaviaClient } from './octavia-client.js';
import { OctaviaApiError } from './octavia-errors.js';

export interface OctaviaPool {
  id: string;
  name: string;
  tags: string[];
}

export class OctaviaBatchClient {
  readonly client: OctaviaClient;
  readonly loadBalancerID: string;
  readonly #pageSize: number | undefined;

  constructor(client: OctaviaClient, loadBalancerID: string, opts: { pageSize?: number } = {}) {
    this.client = client;
    this.loadBalancerID = loadBalancerID;
    this.#pageSize = opts.pageSize;
  }

  /** The load balancer's provisioning_status (ACTIVE, PENDING_UPDATE, ERROR, ...). */
  async provisioningStatus(): Promise<string> {
    const r = await this.client.request('GET', `/v2/lbaas/loadbalancers/${this.loadBalancerID}`);
    const status: unknown = r.body?.loadbalancer?.provisioning_status;
    if (typeof status !== 'string')
      throw new OctaviaApiError(
        'OCTAVIA_BAD_REPLY',
        `Octavia load balancer ${this.loadBalancerID}: reply without provisioning_status`,
        { status: r.status, method: 'GET', path: '/v2/lbaas/loadbalancers' },
        { transient: true },
      );
    return status;
  }

  async pools(): Promise<OctaviaPool[]> {
    const pools = await this.client.listAll<{ id: string; name?: string; tags?: unknown }>(
      '/v2/lbaas/pools',
      'pools',
      new URLSearchParams({ loadbalancer_id: this.loadBalancerID }),
      this.#pageSize,
    );
    return pools.map((p) => ({
      id: p.id,
      name: p.name ?? '',
      tags: Array.isArray(p.tags) ? p.tags.filter((t): t is string => typeof t === 'string') : [],
    }));
  }

  /** Every member of the pool, whoever made it: a batch update replaces them all. */
  async members(poolId: string): Promise<PoolMemberRecord[]> {
    return this.client.listAll<PoolMemberRecord>(`/v2/lbaas/pools/${poolId}/members`, 'members', new URLSearchParams(), this.#pageSize);
  }

  /** One batch update; `locked` when the load balancer was PENDING_* (nothing was changed). */
  async replaceMembers(poolId: string, members: readonly BatchMember[]): Promise<'accepted' | 'locked'> {
    const r = await this.client.request('PUT', `/v2/lbaas/pools/${poolId}/members`, { body: { members }, accept: [409] });
    if (r.status !== 409) return 'accepted';
    if (/immutable/i.test(r.fault)) return 'locked';
    throw new OctaviaApiError('OCTAVIA_CONFLICT', `Octavia PUT /v2/lbaas/pools/${poolId}/members: 409 ${r.fault}`, {
      status: 409,
      method: 'PUT',
      path: `/v2/lbaas/pools/${poolId}/members`,
      fault: r.fault,
    });
  }
}
