// `podlb controller [flags]`: parses flags, builds the Controller, serves /healthz and /readyz,
// and stops cleanly on SIGTERM (stops leading, releases the Lease so the other replica takes
// over within one retry period instead of a lease duration).
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { loadKubeConfig } from '../kube/config.js';
import { pino } from 'pino';
import { parseDurationMs } from '../members/binding.js';
import { PodlbError } from '../util/errors.js';
import { Controller, type ControllerOptions } from './controller.js';

export const CONTROLLER_USAGE = `  podlb controller [--kubeconfig FILE] [--identity NAME] [--namespace podlb-system]
              [--lease-name podlb-controller] [--lease-duration 15s] [--renew-deadline 10s] [--retry-period 2s]
              [--webhook-port 9443] [--webhook-service podlb-webhook] [--webhook-config podlb]
              [--tls-secret podlb-webhook-tls] [--tls-secret-namespace podlb-controller]
              [--gc-grace 2m] [--gc-interval 30s]
              [--health-port 9253] [--log-level info]
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
  'webhook-service': { type: 'string', default: 'podlb-webhook' },
  'webhook-config': { type: 'string', default: 'podlb' },
  'tls-secret': { type: 'string', default: 'podlb-webhook-tls' },
  // Not podlb-system: the agents may read every Secret there (daemonset/rbac.yaml).
  'tls-secret-namespace': { type: 'string', default: 'podlb-controller' },
  'gc-grace': { type: 'string', default: '2m' },
  'gc-interval': { type: 'string', default: '30s' },
  'health-port': { type: 'string', default: '9253' },
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

/** Flags to Controller options (exported for tests). Throws PodlbError('INVALID_FLAG') on bad input. */
export function parseControllerFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): { options: Omit<ControllerOptions, 'kubeConfig' | 'log'>; kubeconfig?: string; healthPort: number; logLevel: string } {
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
  return {
    options: {
      identity,
      namespace: values.namespace,
      leaseName: values['lease-name'],
      leaseDurationSeconds: leaseMs / 1000,
      renewDeadlineMs: duration('renew-deadline', values['renew-deadline']),
      retryPeriodMs: duration('retry-period', values['retry-period']),
      webhookPort: port('webhook-port', values['webhook-port']),
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
    logLevel: values['log-level'],
  };
}

export async function runController(argv: string[]): Promise<void> {
  const flags = parseControllerFlags(argv);
  const log = pino({ level: flags.logLevel, base: { component: 'podlb-controller', identity: flags.options.identity } });
  const kc = loadKubeConfig(flags.kubeconfig);
  const controller = new Controller({ ...flags.options, kubeConfig: kc, log });

  const health = createServer((req, res) => {
    // Liveness: the process answers. Readiness: the webhook can answer reviews (certificate
    // loaded, Service cache listed); the webhook Service only sends to ready replicas.
    const ok = req.url === '/healthz' ? true : req.url === '/readyz' ? controller.ready : undefined;
    if (ok === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
  });
  if (flags.healthPort > 0) health.listen(flags.healthPort);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: releasing the Lease');
    health.close();
    await controller.stop({ release: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ leader: `${flags.options.namespace}/${flags.options.leaseName}`, webhookPort: flags.options.webhookPort }, 'podlb controller starting');
  await controller.start();
}
