// The command layer of `kubectl podlb`: parse arguments, read or patch through the API, hand the
// objects to the pure view functions (status.ts, pools.ts, explain.ts, approval.ts), print.
// `runKubectlPodlb` takes its streams and clock as arguments, so tests run it in-process.
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, LABEL_SERVICE_NAME, type EndpointSlice, type LoadBalancerClass, type Pod, type PodAddressPool, type PodLBNode, type Service } from '../../api/types.js';
import { KubeApiError, KubeClient, isNotFound } from '../../kube/client.js';
import { type Decision, approvalPatch, callerIdentity, describeDecision, reasonProblem } from './approval.js';
import { type KubeEvent, explainService, renderExplain } from './explain.js';
import { poolViews, renderPools } from './pools.js';
import { renderStatus } from './status.js';

export const USAGE = `usage: kubectl podlb COMMAND [--kubeconfig FILE] [--context NAME]
  status                                  each node's BGP sessions, prefixes and members
  pools [-o json]                         PodAddressPools: approval, CIDRs, advertising nodes
  approve POOL --reason TEXT              network team: approve a pool (spec.approval)
  reject POOL --reason TEXT               network team: reject a pool
  explain svc/NAME [-n NS] [-o json]      why each Pod behind a Service is ready or not
`;

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  now?: () => Date;
}

class UsageError extends Error {}

function loadKubeConfig(file: string | undefined, context: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  return kc;
}

export async function runKubectlPodlb(argv: readonly string[], io: CliIo): Promise<number> {
  const now = io.now ?? (() => new Date());
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        output: { type: 'string', short: 'o' },
        reason: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.stderr(`kubectl-podlb: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [cmd, ...rest] = positionals;
  if (values.help || cmd === undefined || cmd === 'help') {
    io.stderr(USAGE);
    return 0;
  }
  const json = values.output === 'json';
  try {
    if (values.output !== undefined && !json) throw new UsageError(`-o ${values.output}: only -o json is supported`);
    // Argument errors before any API call (and before reading the kubeconfig).
    if ((cmd === 'approve' || cmd === 'reject') && (rest.length !== 1 || !rest[0])) throw new UsageError(`${cmd} needs exactly one pool name`);
    if (cmd === 'approve' || cmd === 'reject') {
      const problem = reasonProblem(values.reason);
      if (problem) throw new UsageError(problem);
    }
    if (cmd === 'explain' && (rest.length !== 1 || !/^(svc|service|services)\/./.test(rest[0]!))) throw new UsageError('explain needs svc/NAME');
    if (!['status', 'pools', 'approve', 'reject', 'explain'].includes(cmd)) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);

    const kc = loadKubeConfig(values.kubeconfig, values.context);
    const client = new KubeClient(kc);
    switch (cmd) {
      case 'status': {
        const list = await client.list<PodLBNode>(`/apis/${API_VERSION}/podlbnodes`);
        io.stdout(json ? JSON.stringify(list.items, null, 2) + '\n' : renderStatus(list.items));
        return 0;
      }
      case 'pools': {
        const [pools, nodes] = await Promise.all([client.list<PodAddressPool>(`/apis/${API_VERSION}/podaddresspools`), client.list<PodLBNode>(`/apis/${API_VERSION}/podlbnodes`)]);
        const views = poolViews(pools.items, nodes.items);
        io.stdout(json ? JSON.stringify(views, null, 2) + '\n' : renderPools(views));
        return 0;
      }
      case 'approve':
      case 'reject': {
        const name = rest[0]!;
        const decision: Decision = cmd === 'approve' ? 'Approved' : 'Rejected';
        const path = `/apis/${API_VERSION}/podaddresspools/${encodeURIComponent(name)}`;
        const current = await client.get<PodAddressPool>(path).catch((err: unknown) => {
          throw isNotFound(err) ? new Error(`podaddresspool ${JSON.stringify(name)} not found`) : err;
        });
        const id = await callerIdentity(client, kc);
        let updated: PodAddressPool;
        try {
          updated = await client.patch<PodAddressPool>(path, approvalPatch(decision, id.name, values.reason!, now(), current.metadata.resourceVersion), 'merge');
        } catch (err) {
          if (err instanceof KubeApiError && err.status === 409) throw new Error(`podaddresspool ${name} changed while you were deciding on it; look at it again and re-run`);
          throw err;
        }
        io.stdout(json ? JSON.stringify(updated, null, 2) + '\n' : describeDecision(updated, id));
        return 0;
      }
      case 'explain': {
        const name = rest[0]!.slice(rest[0]!.indexOf('/') + 1);
        const ns = values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
        const service = await client.get<Service>(`/api/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(name)}`).catch((err: unknown) => {
          throw isNotFound(err) ? new Error(`service ${JSON.stringify(name)} not found in namespace ${ns}`) : err;
        });
        const [pods, slices, events, podlbNodes, classes] = await Promise.all([
          client.list<Pod>(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods`),
          client.list<EndpointSlice>(`/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/endpointslices`, { labelSelector: `${LABEL_SERVICE_NAME}=${name}` }),
          client.list<KubeEvent>(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`),
          client.list<PodLBNode>(`/apis/${API_VERSION}/podlbnodes`),
          client.list<LoadBalancerClass>(`/apis/${API_VERSION}/loadbalancerclasses`),
        ]);
        const view = explainService({ service, pods: pods.items, endpointSlices: slices.items, events: events.items, podlbNodes: podlbNodes.items, classes: classes.items });
        io.stdout(json ? JSON.stringify(view, null, 2) + '\n' : renderExplain(view, now()));
        return 0;
      }
    }
    return 2;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`kubectl-podlb: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    io.stderr(`kubectl-podlb: ${(err as Error).message}\n`);
    return 1;
  }
}
