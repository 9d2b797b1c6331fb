// `podlb controller [flags]`: parses flags, builds the Controller, serves /healthz and /readyz,
// and stops cleanly on SIGTERM (stops leading, releases the Lease so the other replica takes
// over within one retry period instead of a lease duration).
import { createServer, type Server } from 'node:http';
import { hostname, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { loadKubeConfig } from '../kube/config.js';
import { pino } from 'pino';
import { parseDurationMs } from '../members/binding.js';
import { isLinkLocal, parseIp } from '../bgp/ip.js';
import { PodlbError } from '../util/errors.js';
import { Controller, type ControllerOptions } from './controller.js';

export const CONTROLLER_USAGE = `  podlb controller [--kubeconfig FILE] [--identity NAME] [--namespace podlb-system]
              [--lease-name podlb-controller] [--lease-duration 15s] [--renew-deadline 10s] [--retry-period 2s]
              [--webhook-port 9443] [--webhook-address IP] [--webhook-extra-sans NAME|IP,...]
              [--webhook-service podlb-webhook] [--webhook-config podlb]
              [--tls-secret podlb-webhook-tls] [--tls-secret-namespace podlb-controller]
              [--gc-grace 2m] [--gc-interval 30s]
              [--health-port 9253] [--health-address IP] [--log-level info]
              [--bgp bird|calico] [--calico-namespace calico-system]
`;

const OPTIONS = {
  kubeconfig: { type: 'string' },
  identity: { type: 'string' },
  namespace: { type: 'string', default: 'podlb-system' },
  'lease-name': { type: 'string', default: 'podlb-controller' },
  'lease-duration': { type: 'string', default: '15s' },
  'renew-deadline': { type: 'string', default: '10s' },
  'retry-period': { type: 'string', default: '2s' },
  'webhook-port': { type: 'string', default: '9443' },
  // Empty: every interface, IPv4 and IPv6 (the agent's --health-address names the same thing).
  'webhook-address': { type: 'string', default: '' },
  'webhook-extra-sans': { type: 'string', default: '' },
  'webhook-service': { type: 'string', default: 'podlb-webhook' },
  'webhook-config': { type: 'string', default: 'podlb' },
  'tls-secret': { type: 'string', default: 'podlb-webhook-tls' },
  // Not podlb-system: the agents may read every Secret there (daemonset/rbac.yaml).
  'tls-secret-namespace': { type: 'string', default: 'podlb-controller' },
  'gc-grace': { type: 'string', default: '2m' },
  'gc-interval': { type: 'string', default: '30s' },
  'health-port': { type: 'string', default: '9253' },
  'health-address': { type: 'string', default: '' },
  'log-level': { type: 'string', default: 'info' },
  bgp: { type: 'string', default: 'bird' },
  'calico-namespace': { type: 'string', default: 'calico-system' },
} as const;

function duration(flag: string, text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) throw new PodlbError('INVALID_FLAG', `--${flag}: ${JSON.stringify(text)} is not a duration like 15s or 2m`);
  return ms;
}

function port(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new PodlbError('INVALID_FLAG', `--${flag}: ${JSON.stringify(text)} is not a port`);
  return n;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);
const DNS1123_SUBDOMAIN = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A listen address: '' (every interface) or an IP literal, canonical. */
function bindAddress(flag: string, text: string): string {
  if (text === '') return '';
  const ip = parseIp(text);
  if (!ip) throw new PodlbError('INVALID_FLAG', `--${flag}: ${JSON.stringify(text)} is not an IP address (empty: every interface)`);
  return ip.text;
}

function extraSans(text: string): { dnsNames: string[]; ipAddresses: string[] } {
  const out = { dnsNames: [] as string[], ipAddresses: [] as string[] };
  for (const item of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const ip = parseIp(item);
    if (ip) out.ipAddresses.push(ip.text);
    else if (item.length <= 253 && DNS1123_SUBDOMAIN.test(item)) out.dnsNames.push(item);
    else throw new PodlbError('INVALID_FLAG', `--webhook-extra-sans: ${JSON.stringify(item)} is neither an IP address nor a DNS name`);
  }
  return out;
}

/**
 * The addresses this replica's webhook is reached at, for its certificate's IP SANs: the bind
 * address when it is one; else the Pod's IPs (POD_IPS/POD_IP from the downward API) and, on a
 * wildcard, every address of the host's interfaces, which all accept connections then.
 * Loopback and link-local addresses are left out unless bound explicitly: an API server can
 * only dial them from this very host (loopback) or with a zone (link-local).
 */
export function webhookAddresses(bind: string, env: NodeJS.ProcessEnv, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  if (bind !== '' && !WILDCARDS.has(bind)) return [bind];
  const out = new Set<string>();
  for (const raw of (env.POD_IPS ?? env.POD_IP ?? '').split(',')) {
    const ip = parseIp(raw.trim());
    if (ip) out.add(ip.text);
  }
  for (const addrs of Object.values(interfaces)) {
    for (const a of addrs ?? []) {
      const ip = parseIp(a.address);
      if (!ip || a.internal || isLinkLocal(ip)) continue;
      // '0.0.0.0' listens on IPv4 only.
      if (bind === '0.0.0.0' && ip.family === 6) continue;
      out.add(ip.text);
    }
  }
  return [...out];
}

/** Flags to Controller options (exported for tests). Throws PodlbError('INVALID_FLAG') on bad input. */
export function parseControllerFlags(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): { options: Omit<ControllerOptions, 'kubeConfig' | 'log'>; kubeconfig?: string; healthPort: number; healthAddress: string; logLevel: string } {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new PodlbError('INVALID_FLAG', (err as Error).message);
  }
  const leaseMs = duration('lease-duration', values['lease-duration']);
  if (leaseMs % 1000 !== 0) throw new PodlbError('INVALID_FLAG', '--lease-duration: whole seconds (the Lease stores seconds)');
  const bgp = values.bgp;
  if (bgp !== 'bird' && bgp !== 'calico') throw new PodlbError('INVALID_FLAG', `--bgp: ${JSON.stringify(bgp)} is not bird or calico`);
  const identity = values.identity ?? env.POD_NAME ?? hostname();
  const kubeconfig = values.kubeconfig ?? env.KUBECONFIG;
  const webhookHost = bindAddress('webhook-address', values['webhook-address']);
  const extra = extraSans(values['webhook-extra-sans']);
  return {
    options: {
      identity,
      namespace: values.namespace,
      leaseName: values['lease-name'],
      leaseDurationSeconds: leaseMs / 1000,
      renewDeadlineMs: duration('renew-deadline', values['renew-deadline']),
      retryPeriodMs: duration('retry-period', values['retry-period']),
      webhookPort: port('webhook-port', values['webhook-port']),
      ...(webhookHost ? { webhookHost } : {}),
      extraDnsNames: extra.dnsNames,
      extraIpAddresses: extra.ipAddresses,
      ownIpAddresses: webhookAddresses(webhookHost, env, interfaces),
      webhookServiceName: values['webhook-service'],
      webhookConfigName: values['webhook-config'],
      tlsSecretName: values['tls-secret'],
      tlsSecretNamespace: values['tls-secret-namespace'],
      gcGraceMs: duration('gc-grace', values['gc-grace']),
      gcIntervalMs: duration('gc-interval', values['gc-interval']),
      // Only in Calico mode, so BIRD mode's options stay as they were.
      ...(bgp === 'calico' ? { bgp, calicoNamespace: values['calico-namespace'] } : {}),
    },
    ...(kubeconfig ? { kubeconfig } : {}),
    healthPort: port('health-port', values['health-port']),
    healthAddress: bindAddress('health-address', values['health-address']),
    logLevel: values['log-level'],
  };
}

export async function runController(argv: string[]): Promise<void> {
  const flags = parseControllerFlags(argv);
  const log = pino({ level: flags.logLevel, base: { component: 'podlb-controller', identity: flags.options.identity } });
  const kc = loadKubeConfig(flags.kubeconfig);
  const controller = new Controller({ ...flags.options, kubeConfig: kc, log });

  const health = flags.healthPort > 0 ? await serveHealth(() => controller.ready, flags.healthPort, flags.healthAddress) : undefined;

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: releasing the Lease');
    health?.close();
    await controller.stop({ release: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ leader: `${flags.options.namespace}/${flags.options.leaseName}`, webhookPort: flags.options.webhookPort, webhookAddress: flags.options.webhookHost ?? '(all)', certificateIps: flags.options.ownIpAddresses }, 'podlb controller starting');
  await controller.start();
}

/**
 * /healthz (the process answers) and /readyz (`ready()`: the webhook can answer reviews; the
 * webhook Service only sends to ready replicas), on `host` ('' = every interface).
 */
export async function serveHealth(ready: () => boolean, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    const ok = req.url === '/healthz' ? true : req.url === '/readyz' ? ready() : undefined;
    if (ok === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host || undefined, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
