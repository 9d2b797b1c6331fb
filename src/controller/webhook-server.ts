// The HTTPS endpoint of the mutating webhook. Served by every controller replica (leader or
// not) from its own Service cache. The certificate is swapped in place with
// server.setSecureContext when the shared Secret changes: new handshakes use the new one,
// established connections keep theirs, nothing restarts.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Service } from '../api/types.js';
import { admissionResponse, decideGateInjection, type AdmissionReview, type GateDecisionReason } from './webhook.js';

export const WEBHOOK_PATH = '/mutate-pods';
const MAX_BODY_BYTES = 3 * 1024 * 1024; // the API server's own request limit

export interface WebhookServerOptions {
  /** The Services to decide from (the informer cache). */
  services: () => readonly Service[];
  /** False while the Service cache has not listed yet: reviews are then allowed unchanged. */
  synced: () => boolean;
  log: Logger;
}

export class WebhookServer {
  readonly #o: WebhookServerOptions;
  readonly #server: https.Server;
  #cert: { certPem: string; keyPem: string } | undefined;
  /** Reviews answered, by decision (tests and metrics). */
  readonly counts: Record<GateDecisionReason | 'notSynced' | 'badRequest', number> = {
    injected: 0,
    alreadyPresent: 0,
    noSelectingService: 0,
    notPodCreate: 0,
    noLabels: 0,
    notSynced: 0,
    badRequest: 0,
  };

  constructor(opts: WebhookServerOptions) {
    this.#o = opts;
    // No certificate yet: handshakes fail until setCertificate (the Pod is not Ready either).
    this.#server = https.createServer({ minVersion: 'TLSv1.2' }, (req, res) => void this.#handle(req, res));
    this.#server.keepAliveTimeout = 60_000;
    this.#server.headersTimeout = 65_000;
  }

  get hasCertificate(): boolean {
    return this.#cert !== undefined;
  }

  /** Installs (or replaces) the serving certificate; a no-op when unchanged. */
  setCertificate(c: { certPem: string; keyPem: string }): boolean {
    if (this.#cert?.certPem === c.certPem && this.#cert.keyPem === c.keyPem) return false;
    this.#server.setSecureContext({ cert: c.certPem, key: c.keyPem, minVersion: 'TLSv1.2' });
    this.#cert = c;
    this.#o.log.info('webhook serving certificate loaded');
    return true;
  }

  async listen(port: number, host?: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return (this.#server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://x');
    if (req.method !== 'POST' || url.pathname !== WEBHOOK_PATH) {
      res.writeHead(404).end();
      return;
    }
    let review: AdmissionReview;
    try {
      review = JSON.parse(await readBody(req)) as AdmissionReview;
      if (!review.request || typeof review.request.uid !== 'string') throw new Error('not an AdmissionReview with request.uid');
    } catch (err) {
      this.counts.badRequest += 1;
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
      return;
    }
    let body: AdmissionReview;
    if (!this.#o.synced()) {
      // failurePolicy is Ignore anyway; answering beats timing out.
      this.counts.notSynced += 1;
      body = admissionResponse(review, { reason: 'notPodCreate', services: [] });
    } else {
      const decision = decideGateInjection(review.request, this.#o.services());
      this.counts[decision.reason] += 1;
      if (decision.reason === 'injected') {
        const obj = review.request.object as { metadata?: { name?: string; generateName?: string } } | undefined;
        this.#o.log.debug(
          { namespace: review.request.namespace, pod: obj?.metadata?.name ?? obj?.metadata?.generateName, services: decision.services },
          'readiness gate injected',
        );
      }
      body = admissionResponse(review, decision);
    }
    const text = JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
