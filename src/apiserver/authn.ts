// Authentication as a 1.32 kube-apiserver does it, in the same order: client certificate (signed
// by the client CA), bearer token (static tokens, then ServiceAccount JWTs this server issued),
// else anonymous. A bearer token that no authenticator accepts is a 401, never anonymous.
import { createHash, randomBytes, randomUUID, sign, verify } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ServerPki } from './pki.js';
import type { Obj } from './resource-type.js';
import type { ObjectStore } from './store.js';
import type { UserInfo } from './user.js';

/** The issuer and the API audience kubeadm configures (--service-account-issuer, --api-audiences). */
export const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const API_AUDIENCES = [SA_ISSUER];

export const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

/** userInfo.extra keys of a Pod-bound ServiceAccount token (k8s.io/apiserver serviceaccount package). */
export const EXTRA = {
  podName: 'authentication.kubernetes.io/pod-name',
  podUid: 'authentication.kubernetes.io/pod-uid',
  nodeName: 'authentication.kubernetes.io/node-name',
  nodeUid: 'authentication.kubernetes.io/node-uid',
  credentialId: 'authentication.kubernetes.io/credential-id',
} as const;

interface SaClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    node?: { name: string; uid: string };
  };
}

export type AuthResult = { ok: true; user: UserInfo; audiences: string[] } | { ok: false };

/** go-jose's DefaultLeeway, which the real validator applies to exp/nbf and to deletion timestamps. */
const LEEWAY_S = 60;

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export class Authenticator {
  readonly #pki: ServerPki;
  readonly #store: ObjectStore;
  readonly #now: () => number;
  readonly #kid: string;
  #static = new Map<string, UserInfo>();

  constructor(pki: ServerPki, store: ObjectStore, now: () => number = Date.now) {
    this.#pki = pki;
    this.#store = store;
    this.#now = now;
    this.#kid = b64url(
      createHash('sha256')
        .update(pki.saKey.publicKey.export({ type: 'spki', format: 'der' }))
        .digest(),
    );
  }

  /** A static token (kube-apiserver --token-auth-file); a random one unless given. */
  addStaticToken(user: { username: string; groups?: string[]; uid?: string }, token = randomBytes(24).toString('base64url')): string {
    this.#static.set(token, { username: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: [...(user.groups ?? []), 'system:authenticated'] });
    return token;
  }

  /** Issues a ServiceAccount JWT; `pod` binds it (TokenRequest boundObjectRef), and its node is recorded. */
  issue(o: { sa: Obj; audiences: string[]; expirationSeconds: number; pod?: Obj; node?: Obj }): { token: string; expirationTimestamp: string } {
    const now = Math.floor(this.#now() / 1000);
    const exp = now + o.expirationSeconds;
    const claims: SaClaims = {
      iss: SA_ISSUER,
      sub: `system:serviceaccount:${o.sa.metadata.namespace}:${o.sa.metadata.name}`,
      aud: o.audiences,
      exp,
      iat: now,
      nbf: now,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace: o.sa.metadata.namespace,
        serviceaccount: { name: o.sa.metadata.name, uid: o.sa.metadata.uid },
        ...(o.pod ? { pod: { name: o.pod.metadata.name, uid: o.pod.metadata.uid } } : {}),
        ...(o.node ? { node: { name: o.node.metadata.name, uid: o.node.metadata.uid } } : {}),
      },
    };
    const head = `${b64url(JSON.stringify({ alg: 'ES256', kid: this.#kid }))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(head), { key: this.#pki.saKey.privateKey, dsaEncoding: 'ieee-p1363' });
    return { token: `${head}.${b64url(sig)}`, expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d+Z$/, 'Z') };
  }

  /** Who a bearer token is (also TokenReview), or not ok. `audiences`: what the caller accepts (default the API's). */
  authenticateToken(token: string, audiences: string[] = API_AUDIENCES): AuthResult {
    const s = this.#static.get(token);
    if (s) return { ok: true, user: s, audiences };
    const claims = this.#verifyJwt(token);
    if (!claims) return { ok: false };
    const matched = claims.aud.filter((a) => audiences.includes(a));
    if (matched.length === 0) return { ok: false };
    const user = this.#validateBinding(claims);
    return user ? { ok: true, user, audiences: matched } : { ok: false };
  }

  /** The request's user; not ok for a bearer token nobody accepts (401). */
  authenticate(req: IncomingMessage): AuthResult {
    const sock = req.socket as TLSSocket;
    if (sock.authorized && typeof sock.getPeerCertificate === 'function') {
      const cert = sock.getPeerCertificate();
      const cn = cert?.subject?.CN;
      if (cn) {
        const o = cert.subject.O;
        const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
        return { ok: true, user: { username: String(cn), groups: [...groups.map(String), 'system:authenticated'] }, audiences: API_AUDIENCES };
      }
    }
    // As the real bearer-token authenticator: another scheme is not its business (the request
    // stays anonymous), but a Bearer header without a usable token is an error.
    const h = req.headers.authorization?.trim();
    if (h !== undefined && /^bearer(\s|$)/i.test(h)) {
      const token = h.slice(6).trim();
      if (token === '' || /\s/.test(token)) return { ok: false };
      return this.authenticateToken(token);
    }
    return { ok: true, user: ANONYMOUS, audiences: API_AUDIENCES };
  }

  #verifyJwt(token: string): SaClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    try {
      const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: string };
      if (header.alg !== 'ES256') return undefined;
      const ok = verify(
        'sha256',
        Buffer.from(`${parts[0]}.${parts[1]}`),
        { key: this.#pki.saKey.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(parts[2]!, 'base64url'),
      );
      if (!ok) return undefined;
      const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as SaClaims;
      const now = this.#now() / 1000;
      if (
        c.iss !== SA_ISSUER ||
        !Array.isArray(c.aud) ||
        typeof c.exp !== 'number' ||
        c.exp + LEEWAY_S <= now ||
        (typeof c.nbf === 'number' && c.nbf > now + LEEWAY_S)
      )
        return undefined;
      if (!c['kubernetes.io']?.serviceaccount?.name) return undefined;
      return c;
    } catch {
      return undefined;
    }
  }

  /** The live objects the token names must still exist with the same uid (the legacy-free 1.32 validator). */
  #validateBinding(c: SaClaims): UserInfo | undefined {
    const k = c['kubernetes.io'];
    const ns = k.namespace;
    const sa = this.#store.tryGet('serviceaccounts', k.serviceaccount.name, ns);
    // Things deleted before now - leeway no longer vouch for the token.
    const deletedBefore = this.#now() - LEEWAY_S * 1000;
    const gone = (o: Obj): boolean => !!o.metadata.deletionTimestamp && Date.parse(o.metadata.deletionTimestamp) < deletedBefore;
    if (!sa || sa.metadata.uid !== k.serviceaccount.uid || gone(sa)) return undefined;
    const extra: Record<string, string[]> = { [EXTRA.credentialId]: [`JTI=${c.jti}`] };
    if (k.pod) {
      const pod = this.#store.tryGet('pods', k.pod.name, ns);
      if (!pod || pod.metadata.uid !== k.pod.uid) return undefined;
      if (gone(pod)) return undefined;
      extra[EXTRA.podName] = [k.pod.name];
      extra[EXTRA.podUid] = [k.pod.uid];
    }
    // Informational for a Pod-bound token (the Pod binding is what is validated).
    if (k.node) {
      extra[EXTRA.nodeName] = [k.node.name];
      if (k.node.uid) extra[EXTRA.nodeUid] = [k.node.uid];
    }
    return {
      username: `system:serviceaccount:${ns}:${k.serviceaccount.name}`,
      uid: k.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
      extra,
    };
  }
}
