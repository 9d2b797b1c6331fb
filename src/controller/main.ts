// `podlb controller [flags]`: parses flags, builds the Controller, serves /healthz and /readyz,
// and stops cleanly on SIGTERM (stops leading, releases the Lease so the other replica takes
// over within one retry period instead of a lease duration).
import { createServer, type Server } from 'node:http';
import { loadKubeConfig } from '../kube/config.js';
import { pino } from 'pino';
import type { Parsed } from '../cli/flags.js';
import { Controller } from './controller.js';
import { controllerFlags } from './flags.js';

export { CONTROLLER_COMMAND, parseControllerFlags, webhookAddresses } from './flags.js';

export async function runController(p: Parsed): Promise<number> {
  const flags = controllerFlags(p);
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
  log.info(
    {
      leader: `${flags.options.namespace}/${flags.options.leaseName}`,
      webhookPort: flags.options.webhookPort,
      webhookAddress: flags.options.webhookHost ?? '(all)',
      certificateIps: flags.options.ownIpAddresses,
    },
    'podlb controller starting',
  );
  await controller.start();
  return 0;
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
