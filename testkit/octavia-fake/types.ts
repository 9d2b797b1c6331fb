// What the in-process Keystone + Octavia exposes to tests: its identity records, request log,
// options and the handle `startOctaviaFake` returns.
import type { OctaviaFakeState } from './state.js';

export interface FakeProject {
  id: string;
  name: string;
  domain: string;
}

export interface FakeUser {
  id: string;
  name: string;
  domain: string;
  password: string;
  projects: string[];
  defaultProjectId?: string;
}

export interface FakeApplicationCredential {
  id: string;
  secret: string;
  userId: string;
  projectId: string;
}

export interface FakeToken {
  token: string;
  userId: string;
  projectId: string | null;
  expiresAt: number;
  method: 'password' | 'application_credential';
}

export interface RequestLogEntry {
  method: string;
  /** Path and query as received. */
  path: string;
  status: number;
}

export type RequestMatch = { method?: string; path?: string | RegExp } | ((req: { method: string; path: string }) => boolean);

export interface OctaviaFakeOptions {
  regions?: string[];
  /** How long each change keeps the LB PENDING_*; default REALISTIC_PENDING_MS. */
  pendingMs?: number;
  /** The amphorae's heartbeat interval (Octavia: 10 s); default null = statuses only by hand. */
  heartbeatMs?: number | null;
  tokenTtlMs?: number;
  paginationMaxLimit?: number;
}

export interface OctaviaFake {
  /** Keystone v3 auth URL, as a LoadBalancerClass's spec.octavia.authURL. */
  url: string;
  /** The first region's public load-balancer endpoint. */
  octaviaUrl: string;
  endpoint(region: string, iface: 'public' | 'internal' | 'admin'): string;
  state: OctaviaFakeState;
  identity: { projects: FakeProject[]; users: FakeUser[]; applicationCredentials: FakeApplicationCredential[]; tokens: Map<string, FakeToken> };
  /** Credentials the default identity accepts (same shapes as OctaviaInstance's). */
  credentials: {
    password: { type: 'password'; username: string; password: string; projectName: string; userDomainName: string; projectDomainName: string };
    applicationCredential: { type: 'applicationCredential'; id: string; secret: string };
  };
  faults: {
    /** The next `count` requests matching `match` get `status` (0 = the connection is reset). */
    failNext(status: number, count?: number, match?: RequestMatch): void;
    /** How long the LB stays PENDING_UPDATE after each change (0 = ACTIVE before the reply is read). */
    setPendingMs(ms: number): void;
    /** The health manager's heartbeat interval (null: statuses only by hand or state.health.heartbeat()). */
    setHeartbeatMs(ms: number | null): void;
    /** The next `count` provider operations fail: their members ERROR, the LB ACTIVE again. */
    failProvisioning(count?: number): void;
    /** Members per project (null: unlimited); over it a create is 403 "Quota has been met". */
    setMemberQuota(n: number | null): void;
    /** Every token issued so far is expired from now on. */
    expireTokens(): void;
    setTokenTtlMs(ms: number): void;
    setLatencyMs(ms: number): void;
    /** Write pagination links with this scheme://host instead of the request's (a proxy in front of Octavia). */
    setLinkBase(base: string | null): void;
  };
  requestLog: RequestLogEntry[];
  close(): Promise<void>;
}
