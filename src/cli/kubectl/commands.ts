// The command tree of `kubectl podlb`: every command, flag, default and example, declared once for
// parsing, help, usage errors and completion (../flags.ts). Kept free of API code so the
// completion executable loads nothing else.
import { commonCommands } from '../dispatch.js';
import { type Command, type Flag, checkRequestTimeout } from '../flags.js';

/** kubectl's global flags that make sense for a plugin that only reads and patches through the API. */
export const KUBECTL_GLOBAL_FLAGS: Flag[] = [
  { name: 'kubeconfig', type: 'string', arg: 'FILE', defaultText: '$KUBECONFIG, else ~/.kube/config', file: true, description: 'kubeconfig file' },
  { name: 'context', type: 'string', arg: 'NAME', defaultText: 'the current context', description: 'kubeconfig context to use' },
  { name: 'namespace', short: 'n', type: 'string', arg: 'NS', defaultText: 'the context\'s, else "default"', description: 'namespace (explain)' },
  { name: 'as', type: 'string', arg: 'USER', description: 'impersonate this user (Impersonate-User)' },
  { name: 'as-group', type: 'strings', arg: 'GROUP', description: 'impersonate this group (Impersonate-Group)' },
  {
    name: 'request-timeout',
    type: 'string',
    arg: 'DURATION',
    default: '15s',
    check: checkRequestTimeout,
    description: 'per-request timeout: seconds or a duration like 5s, 1m; 0: none',
  },
];

const output = (choices: readonly string[]): Flag => ({
  name: 'output',
  short: 'o',
  type: 'string',
  arg: 'FORMAT',
  choices,
  defaultText: 'a table',
  description: 'output format',
});
const reason: Flag = { name: 'reason', type: 'string', arg: 'TEXT', description: 'why (a ticket, a name): recorded in spec.approval.reason (required)' };

const P = 'kubectl podlb';

export const KUBECTL_PODLB: Command = {
  path: P,
  summary: 'kubectl podlb: podlb status, PodAddressPool approval and why a Pod is or is not ready',
  flags: [{ name: 'version', type: 'boolean', description: 'print the version and exit' }],
  examples: ['kubectl podlb pools', 'kubectl podlb explain svc/bidder -n ads', 'kubectl podlb approve tokyo-pods --reason NETREQ-1234'],
  subcommands: [
    {
      path: `${P} status`,
      summary: "Each node's BGP sessions, advertised prefixes and members",
      flags: [output(['json', 'yaml', 'wide'])],
      examples: [`${P} status`, `${P} status -o wide`],
    },
    {
      path: `${P} pools`,
      summary: 'PodAddressPools: approval, CIDRs, advertising nodes',
      flags: [output(['json', 'yaml', 'wide'])],
      examples: [`${P} pools`, `${P} pools -o json`],
    },
    {
      path: `${P} approve`,
      summary: 'Network team: approve a PodAddressPool (spec.approval)',
      usage: 'POOL --reason TEXT [flags]',
      args: { min: 1, max: 1, name: 'exactly one pool name' },
      flags: [reason, output(['json', 'yaml'])],
      examples: [`${P} approve tokyo-pods --reason NETREQ-1234`],
    },
    {
      path: `${P} reject`,
      summary: 'Network team: reject a PodAddressPool',
      usage: 'POOL --reason TEXT [flags]',
      args: { min: 1, max: 1, name: 'exactly one pool name' },
      flags: [reason, output(['json', 'yaml'])],
      examples: [`${P} reject tokyo-pods --reason "overlaps the DMZ"`],
    },
    {
      path: `${P} explain`,
      summary: 'Why each Pod behind a Service is ready or not',
      usage: 'svc/NAME [-n NS] [flags]',
      args: { min: 1, max: 1, name: 'svc/NAME' },
      flags: [output(['json', 'yaml', 'wide'])],
      examples: [`${P} explain svc/bidder -n ads`, `${P} explain svc/bidder -n ads -o wide    # whole Event messages`],
    },
    ...commonCommands(P, 'kubectl-podlb'),
  ],
};
