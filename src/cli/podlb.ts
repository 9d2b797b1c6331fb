#!/usr/bin/env node
// `podlb`: binaries only wire things together; the logic lives in src/agent, src/bgp, src/lab.
import { parseArgs } from 'node:util';
import { createServer } from 'node:http';
import { loadKubeConfig } from '../kube/config.js';
import { pino } from 'pino';
import { Agent } from '../agent/agent.js';
import { AgentMetrics } from '../agent/metrics.js';
import { runRenderBird } from './render-bird.js';
import { withdrawAll } from '../agent/withdraw.js';

const USAGE = `usage:
  podlb agent --node-name NAME [--kubeconfig FILE] [--bird-socket PATH --bird-config PATH] [--no-bgp]
              [--netns NAME] [--no-kernel-routes]
              [--secrets-namespace NS] [--health-port 9253] [--health-address 0.0.0.0] [--pending-poll-ms 25]
  podlb controller [--kubeconfig FILE] [--identity NAME] [--namespace podlb-system] ...   (podlb controller --help)
  podlb render bird --node NAME --objects FILE.yaml [--show-secrets] [--default-gateway IP]...
  podlb lab [--once] [--keep-going]
`;

function fail(message: string): never {
  process.stderr.write(`podlb: ${message}\n\n${USAGE}`);
  process.exit(2);
}

async function agent(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      'bird-socket': { type: 'string' },
      'bird-config': { type: 'string' },
      'no-bgp': { type: 'boolean', default: false },
      netns: { type: 'string' },
      'no-kernel-routes': { type: 'boolean', default: false },
      'secrets-namespace': { type: 'string', default: 'podlb-system' },
      'health-port': { type: 'string', default: '9253' },
      'health-address': { type: 'string', default: '0.0.0.0' },
      'pending-poll-ms': { type: 'string', default: '25' },
      'log-level': { type: 'string', default: 'info' },
    },
  });
  const nodeName = values['node-name'] ?? process.env.NODE_NAME;
  if (!nodeName) fail('--node-name (or NODE_NAME) is required');
  const log = pino({ level: values['log-level'], base: { node: nodeName } });
  const kc = loadKubeConfig(values.kubeconfig);
  const bgp = !values['no-bgp'];
  if (bgp && (!values['bird-socket'] || !values['bird-config'])) fail('--bird-socket and --bird-config are required unless --no-bgp');
  const agentInst = new Agent({
    nodeName,
    kubeConfig: kc,
    log,
    ...(bgp ? { bird: { socketPath: values['bird-socket']!, configPath: values['bird-config']! } } : {}),
    secretsNamespace: values['secrets-namespace']!,
    kernel: values['no-kernel-routes'] ? false : values.netns ? { netns: values.netns } : {},
    pendingPollMs: Number(values['pending-poll-ms']),
    metrics: new AgentMetrics({ processMetrics: true }),
  });
  const port = Number(values['health-port']);
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      agentInst.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': agentInst.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    const ok = req.url === '/healthz' ? agentInst.healthy : req.url === '/readyz' ? agentInst.synced : undefined;
    if (ok === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ok\n');
  });
  if (port > 0) server.listen(port, values['health-address']);
  let stopping = false;
  const stop = async (sig: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'stopping; BIRD keeps running and load-balancer members stay registered');
    server.close();
    await agentInst.stop();
    // Uninstall only (see src/agent/withdraw.ts): after the loop stopped, so nothing re-renders.
    if (bgp && process.env.PODLB_WITHDRAW_ON_STOP === 'true') await withdrawAll({ bird: { socketPath: values['bird-socket']!, configPath: values['bird-config']! }, ...(values.netns ? { netns: values.netns } : {}), log });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ bgp }, 'podlb agent starting');
  await agentInst.start();
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'agent':
      return agent(rest);
    case 'controller': {
      const { runController, CONTROLLER_USAGE } = await import('../controller/main.js');
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write(`${CONTROLLER_USAGE}\n`);
        return;
      }
      return runController(rest);
    }
    case 'render': {
      const [what, ...args] = rest;
      if (what !== 'bird') fail('only `podlb render bird` exists');
      const { values } = parseArgs({ args, options: { node: { type: 'string' }, objects: { type: 'string' }, 'show-secrets': { type: 'boolean', default: false }, 'default-gateway': { type: 'string', multiple: true } } });
      if (!values.node || !values.objects) fail('render bird needs --node NAME and --objects FILE.yaml');
      // The node's default gateways (what the agent reads via netlink), for `peerAddress: Gateway`;
      // the renderer validates them like any other input.
      const gw: { v4?: string; v6?: string } = {};
      for (const g of values['default-gateway'] ?? []) {
        if (g.includes(':')) gw.v6 = g;
        else gw.v4 = g;
      }
      process.exitCode = await runRenderBird({ node: values.node, objectsFile: values.objects, showSecrets: values['show-secrets'] ?? false, ...(Object.keys(gw).length ? { defaultGateway: gw } : {}) }, process.stdout, process.stderr);
      return;
    }
    case 'withdraw': {
      const { values } = parseArgs({ args: rest, options: { 'bird-socket': { type: 'string' }, 'bird-config': { type: 'string' }, netns: { type: 'string' } } });
      if (!values['bird-socket'] || !values['bird-config']) fail('withdraw needs --bird-socket PATH and --bird-config PATH');
      const r = await withdrawAll({ bird: { socketPath: values['bird-socket'], configPath: values['bird-config'] }, ...(values.netns ? { netns: values.netns } : {}), log: pino() });
      process.exitCode = r.bird.result === 'Failed' || r.blackholeError ? 1 : 0;
      return;
    }
    case 'lab': {
      const { values } = parseArgs({ args: rest, options: { once: { type: 'boolean', default: false } } });
      const { runLab } = await import('../lab/lab.js');
      const { withLeakCheck } = await import('../lab/leak-check.js');
      // The lab must leave this machine as it found it; what it did not is printed and fails the run.
      process.exitCode = await withLeakCheck('podlb lab', () => runLab({ once: values.once ?? false }), process.stderr);
      return;
    }
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return;
    default:
      fail(`unknown command ${JSON.stringify(cmd)}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`podlb: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
