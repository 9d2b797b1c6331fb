// What callers (the HTTP layer, in-process users) can ask of the object store per request.
import type { UserInfo } from './user.js';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
}

export interface WriteOptions {
  dryRun?: boolean;
  /** Who writes (authentication fills it from the request); in-process writes default to IN_PROCESS_USER. */
  user?: UserInfo;
  /** For namespaced resources when the object does not name its namespace. */
  namespace?: string;
  /** The caller only serialises the result and keeps no reference to it: it gets the stored object itself, not a copy. */
  shareResult?: boolean;
}

export interface DeleteOptions {
  /** Who deletes; in-process deletes default to IN_PROCESS_USER. */
  user?: UserInfo;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  dryRun?: boolean;
}

/** Patch types by Content-Type (client-node's PatchStrategy values) or short name. */
export type PatchType =
  | 'application/merge-patch+json'
  | 'application/json-patch+json'
  | 'application/strategic-merge-patch+json'
  | 'application/apply-patch+yaml'
  | 'merge'
  | 'json'
  | 'strategic'
  | 'apply';

export interface PatchOptions {
  subresource?: 'status';
  /** Who patches; in-process patches default to IN_PROCESS_USER. */
  user?: UserInfo;
  dryRun?: boolean;
  /** As WriteOptions.shareResult. */
  shareResult?: boolean;
}
