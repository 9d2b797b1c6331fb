// The lab's network end to end: ToR (FRR) + 2 nodes (BIRD) + LB (HAProxy) + one Pod per node.
// Proves the lab's central property: HAProxy reaches Pod IPs only through routes the ToR learned
// by BGP, without NAT. The BIRD config here is hand-written and deliberately tiny; the agent
// renders the real one.
import { BIRD_DEVICE_PROTOCOL } from '../src/bgp/render.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad, percentile } from '../src/lab/http-load.js';
import { NetnsSandbox, run, waitFor } from '../src/lab/netns.js';
import type { LabPod } from '../src/lab/pod-server.js';
import { buildTopology, PodIpAllocator, type Topology, type TopologyNode } from '../src/lab/topology.js';

const PORT = 8080;
const BACKEND = 'web';

/** HTTP GET from inside a namespace (no curl/ping on these machines: a one-shot node). */
async function httpGetFrom(ns: string, url: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const script = `require('http').request(${JSON.stringify(url)}, { method: ${JSON.stringify(method)}, timeout: 5000 }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(JSON.stringify({ status: r.statusCode, body: b }))); }).on('timeout', function () { this.destroy(new Error('timeout')); }).on('error', (e) => { process.stderr.write(e.code || e.message); process.exit(2); }).end();`;
  const out = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeoutMs: 10_000 });
  return JSON.parse(out) as { status: number; body: string };
}

/** One HAProxy runtime API command line (may hold several `;`-separated commands). */
function haproxyCommand(runtimeAddress: string, line: string): Promise<string> {
  const path = runtimeAddress.replace(/^unix:\/\//, '');
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let out = '';
    sock.setTimeout(5_000, () => sock.destroy(new Error(`haproxy runtime API timeout: ${line}`)));
    sock.on('connect', () => sock.write(`${line}\n`));
    sock.on('data', (d) => (out += d.toString()));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
}

/** `show stat` rows of one backend's servers: name -> {status, checkStatus}. */
async function serverStates(runtimeAddress: string, backend: string): Promise<Map<string, { status: string; checkStatus: string }>> {
  const csv = await haproxyCommand(runtimeAddress, 'show stat');
  const [header, ...rows] = csv.trim().split('\n');
  const cols = (header ?? '').replace(/^# /, '').split(',');
  const at = (row: string[], col: string): string => row[cols.indexOf(col)] ?? '';
  const states = new Map<string, { status: string; checkStatus: string }>();
  for (const line of rows) {
    const row = line.split(',');
    if (at(row, 'pxname') !== backend || ['BACKEND', 'FRONTEND'].includes(at(row, 'svname'))) continue;
    states.set(at(row, 'svname'), { status: at(row, 'status'), checkStatus: at(row, 'check_status') });
  }
  return states;
}

function birdConfig(node: TopologyNode, torAsn: number, nodeAsn: number): string {
  return [
    `router id ${node.address};`,
    // The topology starts BIRD with podlb's device block; renaming it would flush BIRD's interfaces.
    BIRD_DEVICE_PROTOCOL,
    `protocol static pod_cidr { ipv4; route ${node.podCidr} blackhole; }`,
    'protocol bgp tor {',
    `  local ${node.address} as ${nodeAsn};`,
    `  neighbor ${node.torAddress} as ${torAsn};`,
    `  ipv4 { import none; export where net = ${node.podCidr}; };`,
    '}',
    '',
  ].join('\n');
}

function isGone(pid: number): boolean {
  try {
    // A killed daemon that nobody reaped yet is a zombie: dead for our purposes.
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

async function netnsPids(ns: string): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', ns]).catch(() => '');
  return out.split(/\s+/).filter(Boolean).map(Number);
}

/** Resident and private (not shared with other node processes) memory of one process, in MiB. */
function memoryMiB(pid: number): { rss: number; private: number } {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
  const mib = (k: number): number => Math.round((k / 1024) * 10) / 10;
  return { rss: mib(kb('Rss')), private: mib(kb('Private_Clean') + kb('Private_Dirty')) };
}

describe('PodIpAllocator', () => {
  it('skips .0, .1 and the broadcast address, and reuses released addresses only after the fresh ones', () => {
    const a = new PodIpAllocator('10.244.1.0/29');
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['10.244.1.2', '10.244.1.3', '10.244.1.4']);
    a.release('10.244.1.3');
    a.release('10.244.1.2');
    expect([a.allocate(), a.allocate()]).toEqual(['10.244.1.5', '10.244.1.6']);
    expect([a.allocate(), a.allocate()]).toEqual(['10.244.1.3', '10.244.1.2']);
    expect(() => a.allocate()).toThrow(/full/);
  });

  it.each(['10.244.1.0', '10.244.1.0/31', '10.244.1.300/24', 'fd00::/64'])('rejects %s', (cidr) => {
    expect(() => new PodIpAllocator(cidr)).toThrow();
  });
});

describe('lab topology: ToR + 2 nodes + LB', () => {
  let sb: NetnsSandbox;
  let topo: Topology;
  const pods: LabPod[] = [];

  beforeAll(async () => {
    sb = new NetnsSandbox();
    const t0 = performance.now();
    topo = await buildTopology(sb, {
      nodes: [
        { name: 'node1', podCidr: '10.244.1.0/24' },
        { name: 'node2', podCidr: '10.244.2.0/24' },
      ],
      backends: [{ name: BACKEND }],
    });
    console.log(`[measure] topology build: ${Math.round(performance.now() - t0)} ms`);
  });

  afterAll(async () => {
    await sb?.cleanup();
  });

  it('wires the address plan: rack links per node, LB with only a default route', async () => {
    expect(topo.nodes.map((n) => [n.name, n.address, n.torAddress])).toEqual([
      ['node1', '172.31.1.2', '172.31.1.1'],
      ['node2', '172.31.2.2', '172.31.2.1'],
    ]);
    expect(topo.lb.address).toBe('172.31.100.2');
    const lbRoutes = (await sb.exec(topo.lb.ns, 'ip', ['-4', 'route', 'show']))
      .trim()
      .split('\n')
      .map((l) => l.trim());
    expect(lbRoutes).toHaveLength(2);
    expect(lbRoutes.some((r) => r.startsWith('default via 172.31.100.1'))).toBe(true);
    expect(lbRoutes.some((r) => r.startsWith('172.31.100.0/24'))).toBe(true);
    for (const n of topo.nodes) expect((await sb.exec(n.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).trim()).toBe('1');
    // rp_filter off everywhere (effective value = max(all, interface)).
    for (const [ns, ifs] of [
      [topo.tor.ns, ['all', 'lb', 'node1', 'node2']],
      [topo.lb.ns, ['all', 'eth0']],
      ...topo.nodes.map((n) => [n.ns, ['all', 'eth0']] as const),
    ] as const) {
      for (const i of ifs) expect((await sb.exec(ns, 'sysctl', ['-n', `net.ipv4.conf.${i}.rp_filter`])).trim()).toBe('0');
    }
    expect((await topo.tor.kernelRoutes()).filter((r) => r.dst.startsWith('10.244.'))).toEqual([]);
  });

  it('the ToR learns both Pod CIDRs from BIRD into its kernel table', async () => {
    const t0 = performance.now();
    for (const n of topo.nodes) {
      writeFileSync(n.bird.configPath, birdConfig(n, topo.torAsn, topo.nodeAsn));
      const reply = await run('birdc', ['-s', n.bird.socketPath, 'configure']);
      expect(reply).toMatch(/Reconfigur/);
    }
    await waitFor(
      'both BGP sessions Established',
      async () => {
        const nb = await topo.tor.bgpNeighbors();
        return topo.nodes.every((n) => nb[n.address]?.state === 'Established') ? true : undefined;
      },
      30_000,
      20,
    );
    const established = performance.now() - t0;
    const routes = await waitFor(
      'both pod CIDRs in the ToR kernel table',
      async () => {
        const rs = await topo.tor.kernelRoutes();
        return topo.nodes.every((n) => rs.some((r) => r.dst === n.podCidr && r.gateway === n.address)) ? rs : undefined;
      },
      30_000,
      20,
    );
    console.log(
      `[measure] BGP convergence after birdc configure: both sessions Established ${Math.round(established)} ms, both /24s in the ToR kernel table ${Math.round(performance.now() - t0)} ms`,
    );
    expect(
      routes
        .filter((r) => r.dst.startsWith('10.244.'))
        .map((r) => r.dst)
        .sort(),
    ).toEqual(['10.244.1.0/24', '10.244.2.0/24']);
    const neighbors = await topo.tor.bgpNeighbors();
    for (const n of topo.nodes) expect(neighbors[n.address]?.state).toBe('Established');
  });

  it('starts one pod per node and the LB reaches each pod IP directly, un-NATed', async () => {
    for (const [i, n] of topo.nodes.entries()) {
      const t0 = performance.now();
      pods.push(await topo.addPod(n.name, `web-${i + 1}`, PORT));
      console.log(`[measure] pod web-${i + 1} start: ${Math.round(performance.now() - t0)} ms`);
    }
    expect(pods.map((p) => [p.name, p.node, p.ip])).toEqual([
      ['web-1', 'node1', '10.244.1.2'],
      ['web-2', 'node2', '10.244.2.2'],
    ]);
    expect(topo.pods().map((p) => p.name)).toEqual(['web-1', 'web-2']);
    for (const p of pods) {
      const r = await httpGetFrom(topo.lb.ns, `http://${p.ip}:${PORT}/`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ pod: p.name, ip: p.ip, remoteAddress: topo.lb.address });
    }
  });

  it('HAProxy sends traffic through its unix-socket frontend to both pods once they are added by hand', async () => {
    const rt = topo.lb.haproxy.runtimeAddress;
    for (const p of pods) {
      const s = `${BACKEND}/${p.name}`;
      const reply = await haproxyCommand(
        rt,
        `add server ${s} ${p.ip}:${p.port} check inter 300 rise 2 fall 2; enable health ${s}; enable server ${s}; set server ${s} health down`,
      );
      expect(reply).not.toMatch(/error|unknown|failed/i);
    }
    await waitFor(
      'both servers UP after passing checks',
      async () => {
        const st = await serverStates(rt, BACKEND);
        return pods.every((p) => st.get(p.name)?.status === 'UP' && st.get(p.name)?.checkStatus.startsWith('L7OK')) ? true : undefined;
      },
      15_000,
      100,
    );

    const load = await runLoad({ socketPath: topo.lb.httpSocket, concurrency: 4, maxRequests: 400, durationMs: 10_000 });
    console.log(`[measure] load via HAProxy: ${JSON.stringify(load)}`);
    expect(load.sent).toBe(400);
    expect(load.failed).toBe(0);
    expect(load.ok).toBe(400);
    expect(Object.keys(load.byPod).sort()).toEqual(['web-1', 'web-2']);
    expect(load.byPod['web-1']).toBeGreaterThan(100);

    for (const p of pods) console.log(`[measure] pod ${p.name} memory (MiB): ${JSON.stringify(memoryMiB(p.pid))}`);
  });

  it('an unhealthy pod is taken out by the health check; load then reaches only the other pod', async () => {
    const rt = topo.lb.haproxy.runtimeAddress;
    const [web1] = pods;
    await web1!.setHealthy(false);
    expect((await httpGetFrom(topo.lb.ns, `http://${web1!.ip}:${PORT}/healthz`)).status).toBe(503);
    await waitFor('web-1 DOWN', async () => ((await serverStates(rt, BACKEND)).get('web-1')?.status === 'DOWN' ? true : undefined), 10_000, 100);
    const load = await runLoad({ socketPath: topo.lb.httpSocket, concurrency: 2, maxRequests: 50 });
    expect(load.failed).toBe(0);
    expect(load.byPod).toEqual({ 'web-2': 50 });
    // The admin route only answers on the pod's own loopback, i.e. from inside its namespace.
    expect((await httpGetFrom(topo.lb.ns, `http://${web1!.ip}:${PORT}/admin/health?ok=1`, 'POST')).status).toBe(403);
    expect((await httpGetFrom(web1!.ns, `http://127.0.0.1:${PORT}/admin/health?ok=1`, 'POST')).status).toBe(200);
    expect((await httpGetFrom(topo.lb.ns, `http://${web1!.ip}:${PORT}/healthz`)).status).toBe(200);
    await web1!.setHealthy(false);
    await web1!.setHealthy(true);
    expect((await httpGetFrom(topo.lb.ns, `http://${web1!.ip}:${PORT}/healthz`)).status).toBe(200);
  });

  it('a graceful pod removal finishes in-flight requests, removes the pod netns and veth, and does not reuse the IP first', async () => {
    const web2 = pods[1]!;
    const node2 = topo.nodes[1]!;
    const inflight = httpGetFrom(topo.lb.ns, `http://${web2.ip}:${PORT}/?delayMs=2000`);
    await waitFor(
      'the slow request in flight at web-2',
      async () => {
        const stats = JSON.parse((await httpGetFrom(web2.ns, `http://127.0.0.1:${PORT}/stats`)).body) as { inFlight: number };
        return stats.inFlight > 0 ? true : undefined;
      },
      10_000,
      20,
    );
    const removing = topo.removePod('web-2', { graceful: true });
    // Draining: new connections are refused while the slow request is still being served.
    await expect(httpGetFrom(topo.lb.ns, `http://${web2.ip}:${PORT}/`)).rejects.toThrow(/ECONNREFUSED/);
    expect((await inflight).status).toBe(200);
    await removing;
    expect(await web2.exited).toBe(0);
    expect(topo.pods().map((p) => p.name)).toEqual(['web-1']);
    expect(await run('ip', ['netns', 'list'])).not.toContain(web2.ns);
    expect(await sb.exec(node2.ns, 'ip', ['-4', 'route', 'show'])).not.toContain(web2.ip);

    const web3 = await topo.addPod('node2', 'web-3', PORT);
    pods.push(web3);
    expect(web3.ip).toBe('10.244.2.3');
    const r = await httpGetFrom(topo.lb.ns, `http://${web3.ip}:${PORT}/`);
    expect(JSON.parse(r.body)).toMatchObject({ pod: 'web-3', remoteAddress: topo.lb.address });
    // Re-adding a name whose pod was removed must work (its veth name is derived from it).
    await topo.removePod('web-3', { graceful: false });
    const again = await topo.addPod('node2', 'web-3', PORT);
    expect(again.ip).toBe('10.244.2.4');
  });

  it('withdrawing a Pod CIDR at the node makes its pods unreachable from the LB: no path but BGP', async () => {
    const node1 = topo.nodes[0]!;
    const web1 = pods[0]!;
    writeFileSync(node1.bird.configPath, `router id ${node1.address};\n${BIRD_DEVICE_PROTOCOL}\n`);
    expect(await run('birdc', ['-s', node1.bird.socketPath, 'configure'])).toMatch(/Reconfigur/);
    await waitFor(
      '10.244.1.0/24 gone from the ToR',
      async () => ((await topo.tor.kernelRoutes()).some((r) => r.dst === node1.podCidr) ? undefined : true),
      10_000,
      20,
    );
    await expect(httpGetFrom(topo.lb.ns, `http://${web1.ip}:${PORT}/`)).rejects.toThrow(/EHOSTUNREACH|ENETUNREACH|timeout/);
    // The pod itself is fine: its node still reaches it.
    expect((await httpGetFrom(node1.ns, `http://${web1.ip}:${PORT}/`)).status).toBe(200);
  });

  it('sandbox cleanup removes every namespace and every process it made', async () => {
    const namespaces = [...sb.namespaces];
    const present = (await run('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]);
    const pids = (await Promise.all(namespaces.filter((ns) => present.includes(ns)).map(netnsPids))).flat();
    expect(pids.length).toBeGreaterThan(4); // zebra, bgpd, 2x bird, haproxy, pods
    const t0 = performance.now();
    await sb.cleanup();
    console.log(`[measure] cleanup: ${Math.round(performance.now() - t0)} ms (${namespaces.length} namespaces, ${pids.length} processes)`);
    const after = await run('ip', ['netns', 'list']);
    for (const ns of namespaces) expect(after).not.toContain(ns);
    await waitFor('all lab processes gone', () => (pids.every(isGone) ? true : undefined), 5_000, 50);
  });
});

describe('runLoad against a local unix-socket server', () => {
  let dir: string;
  let server: Server;
  let status = 200;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podlb-load-'));
    server = createServer((req, res) => {
      const body = JSON.stringify({ pod: req.url === '/b' ? 'b' : 'a' });
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
    await new Promise<void>((r) => server.listen(join(dir, 'http.sock'), r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops at maxRequests and counts pods', async () => {
    const r = await runLoad({ socketPath: join(dir, 'http.sock'), path: '/b', concurrency: 3, maxRequests: 30 });
    expect(r).toMatchObject({ sent: 30, ok: 30, failed: 0, byPod: { b: 30 }, errors: [] });
    expect(r.latencyMs.max).toBeGreaterThanOrEqual(r.latencyMs.p99);
  });

  it('counts non-200 replies and socket errors as failed', async () => {
    status = 503;
    const r = await runLoad({ socketPath: join(dir, 'http.sock'), concurrency: 2, maxRequests: 10 });
    status = 200;
    expect(r).toMatchObject({ sent: 10, ok: 0, failed: 10, byPod: {}, errors: ['status 503 (x10)'] });
    const gone = await runLoad({ socketPath: join(dir, 'nothing.sock'), concurrency: 2, maxRequests: 4 });
    expect(gone).toMatchObject({ sent: 4, failed: 4, errors: ['ENOENT (x4)'] });
  });

  it('stops by time and by signal', async () => {
    const t0 = Date.now();
    const byTime = await runLoad({ socketPath: join(dir, 'http.sock'), concurrency: 2, durationMs: 200 });
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(byTime.ok).toBeGreaterThan(0);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const t1 = Date.now();
    const bySignal = await runLoad({ socketPath: join(dir, 'http.sock'), concurrency: 2, durationMs: 60_000, stopSignal: ac.signal });
    expect(Date.now() - t1).toBeLessThan(1_000);
    expect(bySignal.failed).toBe(0);
  });
});

// percentile is exported for the load report; keep its rank rule pinned.
describe('percentile', () => {
  it.each([
    [[], 50, 0],
    [[1], 99, 1],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 99, 4],
  ])('%j p%d = %d', (xs, p, want) => {
    expect(percentile(xs, p)).toBe(want);
  });
});
