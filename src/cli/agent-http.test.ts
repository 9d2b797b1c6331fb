// The agent's ports with real sockets: probes where the kubelet reaches them, /metrics only
// where --metrics-address puts it (loopback by default), one listener when both are the same.
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_COMMAND } from './agent-main.js';
import { serveAgentHttp, type AgentHttp } from './agent-http.js';
import { HELP_FLAG, parseFlags, str } from './flags.js';
import { freePort } from '../util/free-port.js';

let http: AgentHttp | undefined;
afterEach(() => {
  http?.close();
  http = undefined;
});

const opts = { healthy: () => true, ready: () => false, metricsText: async () => ({ contentType: 'text/plain; version=0.0.4', text: 'podlb_up 1\n' }) };
const get = async (port: number, path: string): Promise<number> => (await fetch(`http://127.0.0.1:${port}${path}`)).status;

describe('the agent HTTP endpoints', () => {
  it('by default /metrics listens on loopback only, apart from the probes', async () => {
    const p = parseFlags(AGENT_COMMAND, [...(AGENT_COMMAND.flags ?? []), HELP_FLAG], ['--node-name', 'n1', '--no-bgp']);
    expect(str(p, 'metrics-address')).toBe('127.0.0.1');
    expect(str(p, 'health-address')).toBe('0.0.0.0');
    expect(str(p, 'metrics-port')).not.toBe(str(p, 'health-port'));
  });

  it('health and metrics on separate listeners: the health port has no /metrics', async () => {
    const [healthPort, metricsPort] = [await freePort(), await freePort()];
    http = serveAgentHttp({ ...opts, health: { address: '127.0.0.1', port: healthPort }, metrics: { address: '127.0.0.2', port: metricsPort } });
    await http.listening;
    expect(http.servers.map((s) => (s.address() as AddressInfo).address)).toEqual(['127.0.0.1', '127.0.0.2']);
    expect([await get(healthPort, '/healthz'), await get(healthPort, '/readyz'), await get(healthPort, '/metrics')]).toEqual([200, 503, 404]);
    const m = await fetch(`http://127.0.0.2:${metricsPort}/metrics`);
    expect([m.status, await m.text()]).toEqual([200, 'podlb_up 1\n']);
    expect((await fetch(`http://127.0.0.2:${metricsPort}/healthz`)).status).toBe(404);
  });

  it('port 0 serves nothing', () => {
    http = serveAgentHttp({ ...opts, health: { address: '127.0.0.1', port: 0 }, metrics: { address: '127.0.0.1', port: 0 } });
    expect(http.servers).toEqual([]);
  });

  it('one listener serves all three when address and port are the same (the lab)', async () => {
    const port = await freePort();
    http = serveAgentHttp({ ...opts, health: { address: '127.0.0.1', port }, metrics: { address: '127.0.0.1', port } });
    await http.listening;
    expect(http.servers).toHaveLength(1);
    expect([await get(port, '/healthz'), await get(port, '/readyz'), await get(port, '/metrics'), await get(port, '/')]).toEqual([200, 503, 200, 404]);
  });
});
