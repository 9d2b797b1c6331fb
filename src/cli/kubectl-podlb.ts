#!/usr/bin/env node
// `kubectl podlb`: read-only views for now (`status`); approve/reject and explain arrive with
// the pool-approval and membership issues.
import { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, type PodLBNode } from '../api/types.js';
import { KubeClient } from '../kube/client.js';

const USAGE = 'usage: kubectl podlb status [--kubeconfig FILE]\n';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const cmd = args[0];
  const kcIdx = args.indexOf('--kubeconfig');
  const kc = new KubeConfig();
  if (kcIdx >= 0 && args[kcIdx + 1]) kc.loadFromFile(args[kcIdx + 1]!);
  else kc.loadFromDefault();
  if (cmd !== 'status') {
    process.stderr.write(USAGE);
    return cmd === undefined || cmd === '--help' || cmd === '-h' ? 0 : 2;
  }
  const client = new KubeClient(kc);
  const list = await client.list<PodLBNode>(`/apis/${API_VERSION}/podlbnodes`);
  const rows = [['NODE', 'BGP', 'SESSIONS', 'PREFIXES', 'MEMBERS(reg/healthy/drain)', 'CONFIG', 'LAST ERROR']];
  for (const n of list.items) {
    const s = n.status ?? {};
    const bgp = s.conditions?.find((c) => c.type === 'BGPReady');
    const sessions = (s.bgp?.sessions ?? []).map((x) => `${x.peer}=${x.state}`).join(',') || '-';
    const m = s.members;
    rows.push([n.metadata.name ?? '', bgp ? `${bgp.status}/${bgp.reason}` : '-', sessions, (s.bgp?.advertisedPrefixes ?? []).join(',') || '-', m ? `${m.registered}/${m.healthy}/${m.draining}` : '-', s.bgp?.configHash?.slice(0, 12) ?? '-', s.bgp?.lastError ?? '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
  return 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`kubectl-podlb: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
