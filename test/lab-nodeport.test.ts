// The NodePort path beside podlb's in the lab (src/lab/datapath.ts): the lab's kube-proxy
// stand-in really does what kube-proxy does for `externalTrafficPolicy: Cluster`. A request
// to one node's NodePort reaches a Pod chosen at random among all the Service's Pods, on
// that node or across the ToR on the other, and every Pod sees the node the request entered
// by as its client (masquerade to that node's address on its rack link), never the LB; podlb's
// path reaches the same Pods with the LB's own address. The rules live only in the node
// namespaces and go with them.
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDataPathLab, type DataPathLab } from '../src/lab/datapath.js';
import { KUBE_PROXY_TABLE } from '../src/lab/kube-proxy.js';
import { parseNftTables } from '../src/lab/leak-check.js';
import { run } from '../src/lab/netns.js';
import { hasReal } from '../src/lab/real-components.js';

interface PodReply {
  pod: string;
  ip: string;
  remoteAddress: string;
}

// Each GET on a new connection (agent: false), so each one gets its own DNAT decision.
const CLIENT = `
const http = require('node:http');
const [url, n] = process.argv.slice(1);
const get = () => new Promise((resolve, reject) => {
  const req = http.get(url, { agent: false, timeout: 3000 }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error('status ' + res.statusCode))));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', reject);
});
(async () => {
  const out = [];
  for (let i = 0; i < Number(n); i++) out.push(await get());
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e)); process.exit(1); });
`;

let dp: DataPathLab;

/** GETs from the LB's namespace straight to `url` (no HAProxy), one connection each. */
async function getFromLbNamespace(url: string, n: number): Promise<PodReply[]> {
  return JSON.parse(await dp.lab.sb.exec(dp.lab.topo.lb.ns, process.execPath, ['-e', CLIENT, url, String(n)], { timeoutMs: 60_000 })) as PodReply[];
}

function getThroughHaproxy(socketPath: string): Promise<PodReply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/', headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as PodReply) : reject(new Error(`status ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.runIf(hasReal('root', 'bird', 'frr', 'haproxy', 'nft'))('the NodePort path in the lab', () => {
  beforeAll(async () => {
    // One Pod on node1, two on node2: via node1, two of three picks must cross to node2.
    dp = await startDataPathLab({ podsPerNode: [1, 2] });
  }, 120_000);

  afterAll(async () => {
    await dp?.stop();
  });

  it('a NodePort on one node reaches every Pod of the Service, on this node and across the ToR, each seeing that node as the client', async () => {
    const podNode = new Map(dp.pods.map((p) => [p.name, p.node]));
    for (const entry of dp.lab.topo.nodes) {
      const replies = await getFromLbNamespace(`http://${entry.address}:${dp.nodePort}/`, 36);
      // Random among all three: the chance that one Pod is never picked in 36 draws is < 1e-5.
      expect(new Set(replies.map((r) => r.pod))).toEqual(new Set(dp.pods.map((p) => p.name)));
      const crossed = replies.filter((r) => podNode.get(r.pod) !== entry.name);
      expect(crossed.length).toBeGreaterThan(0);
      // Masquerade: whether the Pod is local or on the other node, it sees the entry node's
      // rack-link address, so its reply goes back through that node to be un-NATed.
      for (const r of replies) expect({ pod: r.pod, remoteAddress: r.remoteAddress }).toEqual({ pod: r.pod, remoteAddress: entry.address });
    }
  });

  it("through HAProxy: the podlb backend reaches Pods with the LB's own address, the NodePort backend with a node's", async () => {
    const nodeAddresses = dp.lab.topo.nodes.map((n) => n.address);
    const direct: PodReply[] = [];
    const viaNodePort: PodReply[] = [];
    for (let i = 0; i < 12; i++) {
      direct.push(await getThroughHaproxy(dp.sockets.direct));
      viaNodePort.push(await getThroughHaproxy(dp.sockets.nodePort));
    }
    expect(new Set(direct.map((r) => r.remoteAddress))).toEqual(new Set([dp.lab.topo.lb.address]));
    for (const r of viaNodePort) expect(nodeAddresses).toContain(r.remoteAddress);
    const podIps = new Set(dp.pods.map((p) => p.ip));
    for (const r of [...direct, ...viaNodePort]) expect(podIps).toContain(r.ip);
  });

  it("keeps the rules in the node namespaces only, removes them, and the lab's stop removes every namespace", async () => {
    for (const n of dp.lab.topo.nodes) {
      const rules = await dp.kubeProxy.ruleset(n.ns);
      expect(rules).toContain(`table ip ${KUBE_PROXY_TABLE}`);
      expect(rules).toContain(`dnat to ${dp.pods[0]!.ip}:8080`);
      expect(rules).toContain('masquerade fully-random');
    }
    // Read only: the root namespace never gets a table of the lab's.
    expect(parseNftTables(await run('nft', ['-j', 'list', 'tables']))).not.toContain(`ip ${KUBE_PROXY_TABLE}`);

    await dp.kubeProxy.remove();
    for (const n of dp.lab.topo.nodes) expect(await dp.kubeProxy.ruleset(n.ns)).toBeUndefined();
    // Without the rules nothing listens on the NodePort: the node refuses the connection.
    await expect(getFromLbNamespace(`http://${dp.lab.topo.nodes[0]!.address}:${dp.nodePort}/`, 1)).rejects.toThrow(/ECONNREFUSED/);

    const namespaces = [...dp.lab.sb.namespaces];
    expect(namespaces.length).toBeGreaterThan(dp.lab.topo.nodes.length);
    await dp.stop();
    const left = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
    expect(namespaces.filter((ns) => left.includes(ns))).toEqual([]);
  });
});
