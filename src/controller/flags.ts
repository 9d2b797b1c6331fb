// `podlb controller`'s flags: declared once (src/cli/flags.ts) for parsing, help, errors and
// completion, and turned into Controller options. Kept apart from main.ts so the `podlb` CLI can
// show the controller's help without loading the controller.
import { hostname, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { parseDurationMs } from '../members/binding.js';
import { isLinkLocal, parseIp } from '../net/ip.js';
import { type Command, type Flag, type Parsed, HELP_FLAG, UsageError, checkPort, parseFlags, str } from '../cli/flags.js';
import type { ControllerOptions } from './controller.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function checkDuration(text: string): string | undefined {
  const ms = parseDurationMs(text);
  return ms === undefined || ms <= 0 ? 'is not a duration like 15s or 2m' : undefined;
}

function checkBindAddress(text: string): string | undefined {
  return text === '' || parseIp(text) ? undefined : 'is not an IP address (empty: every interface)';
}

const WILDCARDS = new Set(['0.0.0.0', '::']);
const DNS1123_SUBDOMAIN = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function extraSans(text: string): { dnsNames: string[]; ipAddresses: string[]; bad: string[] } {
  const out = { dnsNames: [] as string[], ipAddresses: [] as string[], bad: [] as string[] };
  for (const item of text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const ip = parseIp(item);
    if (ip) out.ipAddresses.push(ip.text);
    else if (item.length <= 253 && DNS1123_SUBDOMAIN.test(item)) out.dnsNames.push(item);
    else out.bad.push(item);
  }
  return out;
}

function checkExtraSans(text: string): string | undefined {
  const bad = extraSans(text).bad[0];
  return bad === undefined ? undefined : `has ${JSON.stringify(bad)}, which is neither an IP address nor a DNS name`;
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

const CONTROLLER_FLAGS: Flag[] = [
  {
    name: 'kubeconfig',
    type: 'string',
    arg: 'FILE',
    defaultText: '$KUBECONFIG, else in-cluster',
    file: true,
    description: 'kubeconfig to reach the API server',
  },
  { name: 'identity', type: 'string', arg: 'NAME', defaultText: '$POD_NAME, else the host name', description: "this replica's name in the Lease" },
  { name: 'namespace', type: 'string', arg: 'NS', default: 'podlb-system', description: 'namespace of the Lease and the webhook Service' },
  { name: 'lease-name', type: 'string', arg: 'NAME', default: 'podlb-controller', description: 'leader-election Lease' },
  {
    name: 'lease-duration',
    type: 'string',
    arg: 'DURATION',
    default: '15s',
    check: checkDuration,
    description: 'how long a leader holds the Lease without renewing (whole seconds)',
  },
  {
    name: 'renew-deadline',
    type: 'string',
    arg: 'DURATION',
    default: '10s',
    check: checkDuration,
    description: 'how long the leader keeps trying to renew before it stops leading',
  },
  {
    name: 'retry-period',
    type: 'string',
    arg: 'DURATION',
    default: '2s',
    check: checkDuration,
    description: 'how often a replica tries to acquire or renew the Lease',
  },
  { name: 'webhook-port', type: 'string', arg: 'PORT', default: '9443', check: checkPort, description: 'HTTPS port of the mutating webhook' },
  // Empty: every interface, IPv4 and IPv6 (the agent's --health-address names the same thing).
  {
    name: 'webhook-address',
    type: 'string',
    arg: 'IP',
    default: '',
    check: checkBindAddress,
    description: 'address the webhook listens on ("": every interface)',
  },
  {
    name: 'webhook-extra-sans',
    type: 'string',
    arg: 'NAME|IP,...',
    default: '',
    check: checkExtraSans,
    description: 'more DNS names and IPs for the serving certificate (a VIP or name in front)',
  },
  { name: 'webhook-service', type: 'string', arg: 'NAME', default: 'podlb-webhook', description: 'the webhook Service (named in the certificate)' },
  { name: 'webhook-config', type: 'string', arg: 'NAME', default: 'podlb', description: 'the MutatingWebhookConfiguration whose CA bundle is kept current' },
  { name: 'tls-secret', type: 'string', arg: 'NAME', default: 'podlb-webhook-tls', description: 'Secret holding the CA and serving certificate' },
  // Not podlb-system: the agents may read every Secret there (daemonset/rbac.yaml).
  { name: 'tls-secret-namespace', type: 'string', arg: 'NS', default: 'podlb-controller', description: "namespace of --tls-secret (out of the agents' reach)" },
  {
    name: 'gc-grace',
    type: 'string',
    arg: 'DURATION',
    default: '2m',
    check: checkDuration,
    description: 'how long a member of a deleted Node stays before it is removed',
  },
  { name: 'gc-interval', type: 'string', arg: 'DURATION', default: '30s', check: checkDuration, description: 'how often member garbage collection runs' },
  { name: 'health-port', type: 'string', arg: 'PORT', default: '9253', check: checkPort, description: 'port for /healthz and /readyz (0: none)' },
  {
    name: 'health-address',
    type: 'string',
    arg: 'IP',
    default: '',
    check: checkBindAddress,
    description: 'address the health port listens on ("": every interface)',
  },
  { name: 'log-level', type: 'string', arg: 'LEVEL', default: 'info', choices: LOG_LEVELS, description: 'log level' },
  {
    name: 'bgp',
    type: 'string',
    arg: 'MODE',
    default: 'bird',
    choices: ['bird', 'calico'],
    description: "who speaks BGP: podlb's agents with BIRD, or Calico (podlb renders its BGPPeers)",
  },
  { name: 'calico-namespace', type: 'string', arg: 'NS', default: 'calico-system', description: "Calico's namespace (with --bgp calico)" },
  {
    name: 'api-encoding',
    type: 'string',
    arg: 'ENC',
    default: 'protobuf',
    choices: ['protobuf', 'json'],
    description: 'how the cluster-wide Pods and EndpointSlices are listed and watched',
  },
];

export const CONTROLLER_COMMAND: Command = {
  path: 'podlb controller',
  summary: 'Run the controller: the readiness-gate webhook (every replica), leader-elected member garbage collection',
  flags: CONTROLLER_FLAGS,
  examples: [
    '# As the Deployment runs it (in-cluster configuration):',
    'podlb controller --identity "$POD_NAME" --namespace podlb-system --webhook-address "$POD_IP" --health-address "$POD_IP"',
    '# Against a kubeconfig, with Calico speaking BGP:',
    'podlb controller --kubeconfig ~/.kube/config --bgp calico',
  ],
};

export interface ControllerFlags {
  options: Omit<ControllerOptions, 'kubeConfig' | 'log'>;
  kubeconfig?: string;
  healthPort: number;
  healthAddress: string;
  logLevel: string;
}

/** Flags to Controller options (exported for tests). Throws UsageError on bad input. */
export function parseControllerFlags(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): ControllerFlags {
  return controllerFlags(parseFlags(CONTROLLER_COMMAND, [...CONTROLLER_FLAGS, HELP_FLAG], argv), env, interfaces);
}

export function controllerFlags(
  p: Parsed,
  env: NodeJS.ProcessEnv = process.env,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): ControllerFlags {
  const v = (name: string): string => str(p, name)!;
  const ms = (name: string): number => parseDurationMs(v(name))!;
  const leaseMs = ms('lease-duration');
  if (leaseMs % 1000 !== 0) throw new UsageError('--lease-duration: whole seconds (the Lease stores seconds)', CONTROLLER_COMMAND.path);
  const bgp = v('bgp');
  const identity = str(p, 'identity') ?? env.POD_NAME ?? hostname();
  const kubeconfig = str(p, 'kubeconfig') ?? env.KUBECONFIG;
  const webhookHost = parseIp(v('webhook-address'))?.text ?? '';
  const extra = extraSans(v('webhook-extra-sans'));
  return {
    options: {
      identity,
      namespace: v('namespace'),
      leaseName: v('lease-name'),
      leaseDurationSeconds: leaseMs / 1000,
      renewDeadlineMs: ms('renew-deadline'),
      retryPeriodMs: ms('retry-period'),
      webhookPort: Number(v('webhook-port')),
      ...(webhookHost ? { webhookHost } : {}),
      extraDnsNames: extra.dnsNames,
      extraIpAddresses: extra.ipAddresses,
      ownIpAddresses: webhookAddresses(webhookHost, env, interfaces),
      webhookServiceName: v('webhook-service'),
      webhookConfigName: v('webhook-config'),
      tlsSecretName: v('tls-secret'),
      tlsSecretNamespace: v('tls-secret-namespace'),
      gcGraceMs: ms('gc-grace'),
      gcIntervalMs: ms('gc-interval'),
      // Only in Calico mode, so BIRD mode's options stay as they were.
      ...(bgp === 'calico' ? { bgp, calicoNamespace: v('calico-namespace') } : {}),
      ...(v('api-encoding') === 'json' ? { apiEncoding: 'json' as const } : {}),
    },
    ...(kubeconfig ? { kubeconfig } : {}),
    healthPort: Number(v('health-port')),
    healthAddress: parseIp(v('health-address'))?.text ?? '',
    logLevel: v('log-level'),
  };
}
