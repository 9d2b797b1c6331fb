// The command layer of `kubectl podlb`: parse arguments, read or patch through the API, hand the
// objects to the pure view functions (status.ts, pools.ts, explain.ts, approval.ts), print.
// `runKubectlPodlb` takes its streams and clock as arguments, so tests run it in-process.
import type { KubeConfig } from '@kubernetes/client-node';
import {
  API_VERSION,
  LABEL_SERVICE_NAME,
  type EndpointSlice,
  type LoadBalancerClass,
  type Pod,
  type PodAddressPool,
  type PodLBNode,
  type Service,
} from '../../api/types.js';
import { KubeApiError, KubeClient, isNotFound } from '../../kube/client.js';
import { type Decision, approvalPatch, callerIdentity, describeDecision, reasonProblem } from './approval.js';
import { type KubeEvent, explainService, renderExplain } from './explain.js';
import { poolViews, renderPools } from './pools.js';
import { renderStatus } from './status.js';
import { KUBECTL_GLOBAL_FLAGS, KUBECTL_PODLB } from './commands.js';
import { type Handler, dispatch } from '../dispatch.js';
import { type Command, type Parsed, UsageError, list, parseRequestTimeout, str } from '../flags.js';
import { errorMessage } from '../../util/errors.js';
import { escapeTerminal, toSafeJson, toSafeYaml } from './format.js';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  now?: () => Date;
}

async function loadKubeConfig(file: string | undefined, context: string | undefined): Promise<KubeConfig> {
  // Loaded only when a command talks to the API, so help and usage errors answer at once.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (context) {
    // client-node accepts any name here and fails later with a confusing error; kubectl names it.
    if (!kc.getContexts().some((c) => c.name === context)) throw new Error(`context "${context}" does not exist in the kubeconfig`);
    kc.setCurrentContext(context);
  }
  return kc;
}

/** kubectl's impersonation headers for --as and --as-group (one header per group, as kubectl sends). */
export function impersonationHeaders(as: string | undefined, groups: readonly string[]): [string, string][] {
  return [...(as ? [['Impersonate-User', as] as [string, string]] : []), ...groups.map((g) => ['Impersonate-Group', g] as [string, string])];
}

/** Whatever the format, what others wrote reaches the terminal escaped (see format.ts). */
function print(io: CliIo, format: string | undefined, obj: unknown, text: () => string): void {
  io.stdout(format === 'json' ? toSafeJson(obj) : format === 'yaml' ? toSafeYaml(obj) : escapeTerminal(text(), { keepNewlines: true }));
}

/** Runs `kubectl podlb ARGS`: 0 done, 1 a runtime failure (API, not found, conflict), 2 bad input. */
export async function runKubectlPodlb(argv: readonly string[], io: CliIo): Promise<number> {
  const now = io.now ?? (() => new Date());
  const command = async (p: Parsed, cmd: Command): Promise<number> => {
    const name = cmd.path.slice(KUBECTL_PODLB.path.length + 1);
    const rest = p.positionals;
    const format = str(p, 'output');
    const wide = format === 'wide';
    // Argument errors before any API call (and before reading the kubeconfig).
    if (name === 'approve' || name === 'reject') {
      const problem = reasonProblem(str(p, 'reason'));
      if (problem) throw new UsageError(problem, cmd.path);
    }
    if (name === 'explain' && !/^(svc|service|services)\/./.test(rest[0]!))
      throw new UsageError(`explain needs svc/NAME, got ${JSON.stringify(rest[0])}`, cmd.path);
    const as = str(p, 'as');
    if (as === undefined && list(p, 'as-group').length > 0)
      throw new UsageError('--as-group needs --as (kubectl: requesting groups without a user is not allowed)', cmd.path);
    const timeoutMs = parseRequestTimeout(str(p, 'request-timeout')!)!;
    const values = { kubeconfig: str(p, 'kubeconfig'), context: str(p, 'context'), namespace: str(p, 'namespace'), reason: str(p, 'reason') };
    const kc = await loadKubeConfig(values.kubeconfig, values.context);
    // 0 is kubectl's "no timeout"; a timer's longest delay stands for it.
    const client = new KubeClient(kc, { timeoutMs: timeoutMs === 0 ? 2 ** 31 - 1 : timeoutMs, headers: impersonationHeaders(as, list(p, 'as-group')) });
    switch (name) {
      case 'status': {
        const nodes = await client.list<PodLBNode>(`/apis/${API_VERSION}/podlbnodes`);
        print(io, format, nodes.items, () => renderStatus(nodes.items, { wide }));
        return 0;
      }
      case 'pools': {
        const [pools, nodes] = await Promise.all([
          client.list<PodAddressPool>(`/apis/${API_VERSION}/podaddresspools`),
          client.list<PodLBNode>(`/apis/${API_VERSION}/podlbnodes`),
        ]);
        const views = poolViews(pools.items, nodes.items);
        print(io, format, views, () => renderPools(views, { wide }));
        return 0;
      }
      case 'approve':
      case 'reject': {
        const pool = rest[0]!;
        const decision: Decision = name === 'approve' ? 'Approved' : 'Rejected';
        const path = `/apis/${API_VERSION}/podaddresspools/${encodeURIComponent(pool)}`;
        const current = await client.get<PodAddressPool>(path).catch((err: unknown) => {
          throw isNotFound(err) ? new Error(`podaddresspool ${JSON.stringify(pool)} not found`) : err;
        });
        const id = await callerIdentity(client, kc, as);
        let updated: PodAddressPool;
        try {
          updated = await client.patch<PodAddressPool>(path, approvalPatch(decision, current, id.name, values.reason!, now()), 'merge');
        } catch (err) {
          if (err instanceof KubeApiError && err.status === 409)
            throw new Error(`podaddresspool ${pool} changed while you were deciding on it; look at it again and re-run`);
          throw err;
        }
        print(io, format, updated, () => describeDecision(updated, id));
        return 0;
      }
      case 'explain': {
        const svc = rest[0]!.slice(rest[0]!.indexOf('/') + 1);
        const ns = values.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
        const service = await client.get<Service>(`/api/v1/namespaces/${encodeURIComponent(ns)}/services/${encodeURIComponent(svc)}`).catch((err: unknown) => {
          throw isNotFound(err) ? new Error(`service ${JSON.stringify(svc)} not found in namespace ${ns}`) : err;
        });
        const [pods, slices, events, podlbNodes, classes] = await Promise.all([
          client.list<Pod>(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods`),
          client.list<EndpointSlice>(`/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/endpointslices`, {
            labelSelector: `${LABEL_SERVICE_NAME}=${svc}`,
          }),
          client.list<KubeEvent>(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`),
          client.list<PodLBNode>(`/apis/${API_VERSION}/podlbnodes`),
          client.list<LoadBalancerClass>(`/apis/${API_VERSION}/loadbalancerclasses`),
        ]);
        const view = explainService({
          service,
          pods: pods.items,
          endpointSlices: slices.items,
          events: events.items,
          podlbNodes: podlbNodes.items,
          classes: classes.items,
        });
        print(io, format, view, () => renderExplain(view, now(), { wide }));
        return 0;
      }
    }
    return 2;
  };
  const handlers = new Map<string, Handler>(
    ['status', 'pools', 'approve', 'reject', 'explain'].map((c) => [
      `${KUBECTL_PODLB.path} ${c}`,
      async (p: Parsed, cmd: Command) => {
        try {
          return await command(p, cmd);
        } catch (err) {
          if (err instanceof UsageError) throw err;
          io.stderr(`kubectl-podlb: ${escapeTerminal(errorMessage(err))}\n`);
          return 1;
        }
      },
    ]),
  );
  return dispatch({ root: KUBECTL_PODLB, completionProgram: 'kubectl-podlb', globalFlags: KUBECTL_GLOBAL_FLAGS, handlers }, argv, io);
}
