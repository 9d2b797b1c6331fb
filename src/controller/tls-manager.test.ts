import { describe, expect, it } from 'vitest';
import { certInfo, createCa, createServingCert, isSignedBy } from './certs.js';
import { replicaCertificate, rotationReason, type TlsBundle } from './tls-manager.js';

const DAY = 86_400_000;
const NAMES = ['podlb-webhook.podlb-system.svc'];

async function bundle(now: number, ipAddresses: string[] = []): Promise<TlsBundle> {
  const ca = await createCa({ commonName: 'ca', now, lifetimeMs: 365 * DAY });
  const leaf = await createServingCert({ ca, dnsNames: NAMES, ipAddresses, now, lifetimeMs: 90 * DAY });
  return { caCertPem: ca.certPem, caKeyPem: ca.keyPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}

describe('replicaCertificate', () => {
  it('serves the shared leaf when it already covers the replica’s addresses', async () => {
    const now = Date.now();
    const b = await bundle(now, ['192.0.2.10', 'fd00::10']);
    expect((await replicaCertificate(b, ['192.0.2.10', 'FD00:0:0:0:0:0:0:10'], now)).certPem).toBe(b.certPem);
    expect((await replicaCertificate(b, [], now)).certPem).toBe(b.certPem);
  });

  it('otherwise issues its own leaf from the shared CA: same names, its addresses added, never outliving the shared leaf', async () => {
    const now = Date.now();
    const b = await bundle(now, ['192.0.2.10']);
    const own = await replicaCertificate(b, ['10.244.1.7', 'fd00:244::7'], now + DAY);
    expect(own.certPem).not.toBe(b.certPem);
    expect(isSignedBy(own.certPem, b.caCertPem)).toBe(true);
    const info = certInfo(own.certPem);
    expect(info.dnsNames).toEqual(NAMES);
    expect(info.ipAddresses).toEqual(['192.0.2.10', '10.244.1.7', 'fd00:244::7']);
    expect(info.notAfter).toBeLessThanOrEqual(certInfo(b.certPem).notAfter);
  });
});

describe('rotationReason', () => {
  it('reissues the shared leaf when the shared IP SANs change, compared in canonical form', async () => {
    const now = Date.now();
    const b = await bundle(now, ['fd00::10']);
    expect(rotationReason(b, { now, dnsNames: NAMES, ipAddresses: ['FD00:0::10'], fraction: 2 / 3 })).toBeUndefined();
    expect(rotationReason(b, { now, dnsNames: NAMES, ipAddresses: ['fd00::10', '192.0.2.10'], fraction: 2 / 3 })).toBe('ipAddressesChanged');
    expect(rotationReason(b, { now, dnsNames: NAMES, fraction: 2 / 3 })).toBe('ipAddressesChanged');
  });
});
