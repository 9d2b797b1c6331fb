import { describe, expect, it } from 'vitest';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import { parseControllerFlags, serveHealth, webhookAddresses } from './main.js';

const iface = (address: string, internal = false): NetworkInterfaceInfo =>
  address.includes(':')
    ? { address, family: 'IPv6', internal, netmask: 'ffff:ffff:ffff:ffff::', mac: '02:00:00:00:00:01', cidr: null, scopeid: 0 }
    : { address, family: 'IPv4', internal, netmask: '255.255.255.0', mac: '02:00:00:00:00:01', cidr: null };
const HOST = { lo: [iface('127.0.0.1', true), iface('::1', true)], eth0: [iface('10.0.0.5'), iface('fd00::5'), iface('fe80::1')] };

describe('parseControllerFlags', () => {
  it('defaults: client-go leader-election timing, podlb names, identity from POD_NAME, every interface', () => {
    const f = parseControllerFlags([], { POD_NAME: 'podlb-controller-7d9f-x' }, HOST);
    expect(f.options).toEqual({
      identity: 'podlb-controller-7d9f-x',
      namespace: 'podlb-system',
      leaseName: 'podlb-controller',
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      webhookPort: 9443,
      extraDnsNames: [],
      extraIpAddresses: [],
      ownIpAddresses: ['10.0.0.5', 'fd00::5'],
      webhookServiceName: 'podlb-webhook',
      webhookConfigName: 'podlb',
      tlsSecretName: 'podlb-webhook-tls',
      tlsSecretNamespace: 'podlb-controller',
      gcGraceMs: 120_000,
      gcIntervalMs: 30_000,
    });
    expect(f.healthPort).toBe(9253);
    expect(f.healthAddress).toBe('');
    expect(f.kubeconfig).toBeUndefined();
  });

  it('as the Deployment runs it: webhook and health on the Pod IP, extra SANs split into names and addresses', () => {
    const f = parseControllerFlags(
      ['--webhook-address', '10.244.1.7', '--health-address', '10.244.1.7', '--webhook-extra-sans', 'webhook.example.com, 192.0.2.10,FD00:0:0:0:0:0:0:10'],
      { POD_IP: '10.244.1.7' },
      HOST,
    );
    expect(f.options).toMatchObject({
      webhookHost: '10.244.1.7',
      ownIpAddresses: ['10.244.1.7'],
      extraDnsNames: ['webhook.example.com'],
      extraIpAddresses: ['192.0.2.10', 'fd00::10'],
    });
    expect(f.healthAddress).toBe('10.244.1.7');
  });

  it.each([
    [['--lease-duration', '1500ms'], /whole seconds/],
    [['--gc-grace', 'soon'], /--gc-grace.*not a duration/],
    [['--webhook-port', '70000'], /--webhook-port.*not a port/],
    [['--webhook-address', 'podlb.example'], /--webhook-address.*not an IP address/],
    [['--health-address', '10.0.0.300'], /--health-address.*not an IP address/],
    [['--webhook-extra-sans', 'ok.example,Not_A_Name'], /--webhook-extra-sans.*"Not_A_Name"/],
    [['--no-such-flag'], /unknown flag --no-such-flag/],
    [['positional'], /positional/i],
  ])('%j is refused', (argv, message) => {
    expect(() => parseControllerFlags(argv, {}, HOST)).toThrow(message);
  });
});

describe('webhookAddresses', () => {
  it.each<[string, NodeJS.ProcessEnv, string[]]>([
    ['10.244.1.7', { POD_IP: '10.9.9.9' }, ['10.244.1.7']],
    ['127.0.0.1', {}, ['127.0.0.1']],
    ['', { POD_IPS: '10.244.1.7,fd00:244::7' }, ['10.244.1.7', 'fd00:244::7', '10.0.0.5', 'fd00::5']],
    ['', { POD_IP: '10.244.1.7' }, ['10.244.1.7', '10.0.0.5', 'fd00::5']],
    ['0.0.0.0', {}, ['10.0.0.5']],
    ['::', {}, ['10.0.0.5', 'fd00::5']],
  ])('bound to %j with %j: %j', (bind, env, want) => {
    expect(webhookAddresses(bind, env, HOST)).toEqual(want);
  });
});

describe('serveHealth', () => {
  const fetchStatus = (host: string, port: number, path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      get({ host, port, path, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });

  it('listens only on the address it is given', async () => {
    let ready = false;
    const server = await serveHealth(() => ready, 0, '127.0.0.1');
    const { port } = server.address() as AddressInfo;
    try {
      expect(await fetchStatus('127.0.0.1', port, '/healthz')).toBe(200);
      expect(await fetchStatus('127.0.0.1', port, '/readyz')).toBe(503);
      ready = true;
      expect(await fetchStatus('127.0.0.1', port, '/readyz')).toBe(200);
      // Another address of this host (all of 127/8 is local): nothing listens there.
      await expect(fetchStatus('127.0.0.2', port, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      server.close();
    }
  });
});
