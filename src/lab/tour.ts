// `podlb lab`'s guided tour (design §8): starts the lab, deploys a demo Service, and prints what
// each step shows (BGP sessions, the ToR's routes, HAProxy members and the gates, traffic
// without NAT, a Pod replaced under load); --once exits non-zero when a step fails.
import { existsSync } from 'node:fs';
import { LAB_BACKEND, LAB_NAMESPACE, LAB_SERVICE } from './objects.js';
import { runLoad, type LoadResult } from './http-load.js';
import { errorMessage } from '../util/errors.js';
import { missingReal } from './real-components.js';
import { builtImages } from './image-root.js';
import { cliPath } from './lab-agents.js';
import { waitFor } from './netns.js';
import { gateStatus, startLab, type Lab } from './lab.js';

interface Step {
  name: string;
  ok: boolean;
  detail: string;
}

const out = (s = ''): void => {
  process.stdout.write(`${s}\n`);
};

async function step<T>(steps: Step[], name: string, fn: () => Promise<{ ok: boolean; detail: string; value?: T }>): Promise<T | undefined> {
  const t0 = performance.now();
  let r: { ok: boolean; detail: string; value?: T };
  try {
    r = await fn();
  } catch (err) {
    r = { ok: false, detail: errorMessage(err) };
  }
  const ms = Math.round(performance.now() - t0);
  steps.push({ name, ok: r.ok, detail: r.detail });
  out(`${r.ok ? '✔' : '✘'} ${name} (${ms} ms)`);
  for (const line of r.detail.split('\n')) if (line) out(`    ${line}`);
  return r.value;
}

export function preflight(): string[] {
  return missingReal(['root', 'bird', 'haproxy', 'frr']);
}

export async function runLab(opts: { once: boolean; images?: boolean }): Promise<number> {
  const missing = preflight();
  if (missing.length > 0) {
    process.stderr.write(`podlb lab needs:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    return 2;
  }
  const steps: Step[] = [];
  out('podlb lab: ToR (FRR) + 2 nodes (BIRD + podlb agent) + an L7LB of 2 HAProxy instances, all in network namespaces\n');
  if (opts.images) {
    try {
      builtImages();
    } catch (err) {
      process.stderr.write(`podlb lab --images: ${errorMessage(err)}\n`);
      return 2;
    }
  }
  const lab = await startLab({
    agentMode: opts.images ? 'image' : existsSync(cliPath()) ? 'process' : 'inProcess',
    healthCheck: { interval: '500ms', rise: 2, fall: 2 },
    drainSeconds: 3,
  });
  out(`logs: ${lab.logDir}   kubeconfig: ${lab.kubeconfigPath}\n`);
  let interrupted = false;
  const onSig = (): void => {
    interrupted = true;
  };
  process.once('SIGINT', onSig);
  try {
    const pods = ['web-1', 'web-2', 'web-3', 'web-4'];
    await step(steps, 'Deploy demo Service demo/web with 4 Pods (2 per node, readiness gate podlb.io/load-balancer-ready)', async () => {
      for (const [i, name] of pods.entries()) await lab.createPod(i % 2 === 0 ? 'node1' : 'node2', name, { preStopSeconds: 2 });
      return { ok: true, detail: `Service ${LAB_NAMESPACE}/${LAB_SERVICE} annotated podlb.io/load-balancer=lab-haproxy, backend ${LAB_BACKEND}` };
    });

    await step(steps, 'BGP sessions Established (from each node’s PodLBNode status)', async () => {
      const rows = await waitFor(
        'sessions Established',
        async () => {
          const rs = await Promise.all(lab.topo.nodes.map((n) => lab.podLBNode(n.name)));
          const ok = rs.every((r) => (r?.status?.bgp?.sessions ?? []).length > 0 && r!.status!.bgp!.sessions!.every((s) => s.state === 'Established'));
          return ok ? rs : undefined;
        },
        30_000,
        250,
      );
      return {
        ok: true,
        detail: rows
          .map((r) =>
            (r!.status!.bgp!.sessions ?? [])
              .map(
                (s) =>
                  `${r!.metadata.name}: ${s.peer} ${s.peerAddress} ${s.state} since ${s.since ?? '?'}, advertising ${(r!.status!.bgp!.advertisedPrefixes ?? []).join(', ')}`,
              )
              .join('\n'),
          )
          .join('\n'),
      };
    });

    await step(steps, 'Routes learned by the ToR (kernel table of the tor namespace)', async () => {
      const routes = await waitFor(
        'pod CIDRs at the ToR',
        async () => {
          const rs = await lab.topo.tor.kernelRoutes();
          return lab.topo.nodes.every((n) => rs.some((r) => r.dst === n.podCidr)) ? rs : undefined;
        },
        20_000,
        100,
      );
      return {
        ok: true,
        detail: routes
          .filter((r) => r.dst.startsWith('10.244.'))
          .map((r) => `${r.dst} via ${r.gateway ?? '?'} proto ${r.protocol ?? '?'}`)
          .join('\n'),
      };
    });

    await step(steps, 'Gates True: every Pod is a healthy HAProxy member', async () => {
      await waitFor(
        'gates True',
        async () => {
          const ps = await Promise.all(pods.map((p) => lab.getPod(p)));
          return ps.every((p) => gateStatus(p).status === 'True') ? true : undefined;
        },
        30_000,
        100,
      );
      const perLb = await Promise.all(lab.haproxies.map(async (h) => ({ id: h.id, members: (await h.listMembers([LAB_BACKEND], 'podlb_')).members })));
      const ps = await Promise.all(pods.map((p) => lab.getPod(p)));
      return {
        ok: perLb.every((l) => l.members.filter((m) => m.health === 'healthy').length === pods.length),
        detail: [
          ...perLb.flatMap((l, i) => [
            `HAProxy instance ${i + 1} (${l.id}):`,
            ...l.members.map((m) => `  member ${m.name} ${m.address}:${m.port} admin=${m.admin} health=${m.health} check=${m.detail}`),
          ]),
          ...ps.map(
            (p) =>
              `pod ${p!.metadata.name} ${p!.status?.podIP} gate ${gateStatus(p).status}/${gateStatus(p).reason} Ready=${p!.status?.conditions?.find((c) => c.type === 'Ready')?.status}`,
          ),
        ].join('\n'),
      };
    });

    await step(steps, 'Requests through HAProxy reach the Pods directly (source = LB address, no NAT)', async () => {
      const r = await runLoad({ socketPath: lab.topo.lb.httpSocket, concurrency: 4, maxRequests: 200, durationMs: 10_000 });
      const direct = await probeSource(lab);
      const ok = r.failed === 0 && Object.keys(r.byPod).length === pods.length && direct === lab.topo.lb.address;
      return {
        ok,
        detail: `${r.ok}/${r.sent} ok, spread ${JSON.stringify(r.byPod)}, Pod saw source ${direct} (LB is ${lab.topo.lb.address}); p50 ${r.latencyMs.p50.toFixed(1)} ms p99 ${r.latencyMs.p99.toFixed(1)} ms`,
      };
    });

    await step(steps, 'Replace web-1 under constant load (new Pod gated until healthy; old Pod drained, then removed)', async () => {
      const ctl = new AbortController();
      const load = runLoad({ socketPath: lab.topo.lb.httpSocket, concurrency: 4, durationMs: 60_000, stopSignal: ctl.signal });
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      await lab.createPod('node1', 'web-5', { preStopSeconds: 2 });
      await waitFor('web-5 gate True', async () => (gateStatus(await lab.getPod('web-5')).status === 'True' ? true : undefined), 30_000, 50);
      const tGate = Date.now() - t0;
      await lab.deletePod('web-1');
      const drained = await waitFor(
        'web-1 draining',
        async () => ((await lab.members()).some((m) => m.address === podIpOf(lab, 'web-1') && m.admin === 'drain') ? Date.now() - t0 : undefined),
        10_000,
        20,
      ).catch(() => undefined);
      await waitFor(
        'web-1 removed',
        async () =>
          (await lab.getPod('web-1')) === undefined && !(await lab.members()).some((m) => m.name.includes(`_${podIpOf(lab, 'web-1')}_`)) ? true : undefined,
        30_000,
        100,
      );
      const tGone = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 500));
      ctl.abort();
      const r: LoadResult = await load;
      return {
        ok: r.failed === 0,
        detail: `web-5 gate True after ${tGate} ms; web-1 draining ${drained !== undefined ? `at ${drained} ms` : '(not observed)'}; removed at ${tGone} ms\nload: ${r.sent} requests, ${r.failed} failed${r.errors.length ? ` (${r.errors.join(', ')})` : ''}, p50 ${r.latencyMs.p50.toFixed(1)} ms p99 ${r.latencyMs.p99.toFixed(1)} ms`,
      };
    });

    await step(steps, 'Every agent ran as podlb-system/podlb-agent (Pod-bound token) and the shipped RBAC granted each call', async () => {
      const denied = lab.api.deniedRequests();
      return {
        ok: denied.length === 0,
        detail:
          denied.length === 0
            ? 'no request refused (403)'
            : denied
                .map((d) => `${d.method} ${d.path}: ${d.message}`)
                .slice(0, 10)
                .join('\n'),
      };
    });

    if (!opts.once && !interrupted) {
      out(`\nThe lab keeps running. KUBECONFIG=${lab.kubeconfigPath}; HAProxy frontend: ${lab.topo.lb.httpSocket}. Ctrl-C tears it down.`);
      await new Promise<void>((resolve) => {
        process.removeListener('SIGINT', onSig);
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
  } finally {
    process.removeListener('SIGINT', onSig);
    out('\ntearing down…');
    await lab.stop();
  }
  const failed = steps.filter((s) => !s.ok);
  out(
    failed.length === 0 ? `\nall ${steps.length} steps passed` : `\n${failed.length} of ${steps.length} steps failed: ${failed.map((s) => s.name).join('; ')}`,
  );
  return failed.length === 0 ? 0 : 1;
}

const podIps = new Map<string, string>();
function podIpOf(lab: Lab, name: string): string {
  const p = lab.topo.pods().find((x) => x.name === name);
  if (p) podIps.set(name, p.ip);
  return podIps.get(name) ?? '';
}

/** One request through the LB, reading the source address the Pod saw. */
async function probeSource(lab: Lab): Promise<string | undefined> {
  const { request } = await import('node:http');
  return new Promise((resolve) => {
    const req = request({ socketPath: lab.topo.lb.httpSocket, path: '/', headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        try {
          resolve((JSON.parse(body) as { remoteAddress?: string }).remoteAddress?.replace(/^::ffff:/, ''));
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}
