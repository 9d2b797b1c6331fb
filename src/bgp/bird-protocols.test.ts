import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseShowProtocolsAll } from './bird-protocols.js';

// Captured from BIRD 2.0.12 through the control socket (test/bgp-frr.test.ts setup): one
// Established session to FRR 8.4, one to an absent neighbor, one refused by FRR.
const fixture = readFileSync(new URL('./testdata/show-protocols-all.bird-2.0.12.txt', import.meta.url), 'utf8');

describe('parseShowProtocolsAll', () => {
  const ps = parseShowProtocolsAll(fixture);

  it('finds every protocol', () => {
    expect(ps.map((p) => [p.name, p.proto, p.state])).toEqual([
      ['podlb_device', 'Device', 'up'],
      ['podlb_static_v4', 'Static', 'up'],
      ['podlb_static_v6', 'Static', 'up'],
      ['podlb_down_peer_a08bf4', 'BGP', 'start'],
      ['podlb_rack_r12_tor_168653', 'BGP', 'up'],
      ['podlb_rack_r12_tor_v6_9c30cd', 'BGP', 'start'],
    ]);
  });

  it('parses an Established session', () => {
    expect(ps.find((p) => p.name === 'podlb_rack_r12_tor_168653')).toEqual({
      name: 'podlb_rack_r12_tor_168653',
      proto: 'BGP',
      table: '---',
      state: 'up',
      since: '10:53:43.526',
      info: 'Established',
      bgpState: 'Established',
      neighborAddress: '172.31.0.1',
      neighborAs: 65000,
      localAs: 64512,
      neighborId: '172.31.0.1',
      sourceAddress: '172.31.0.2',
      holdTime: 90,
      routesImported: 0,
      routesExported: 1,
      channels: [
        { name: 'ipv4', state: 'UP', table: 'master4', routesImported: 0, routesExported: 1, routesPreferred: 0, exportUpdates: 1, exportWithdraws: 0 },
      ],
    });
  });

  it('parses sessions that are down, with the last error', () => {
    const down = ps.find((p) => p.name === 'podlb_down_peer_a08bf4')!;
    expect(down).toMatchObject({
      info: 'Active',
      bgpState: 'Active',
      neighborAddress: '172.31.0.99',
      lastError: 'Socket: No route to host',
      routesExported: 0,
    });
    expect(down.channels).toEqual([{ name: 'ipv4', state: 'DOWN', table: 'master4' }]);
    const v6 = ps.find((p) => p.name === 'podlb_rack_r12_tor_v6_9c30cd')!;
    expect(v6).toMatchObject({
      info: 'Idle',
      infoDetail: 'Received: Finite state machine error',
      neighborAddress: 'fd00:31::1',
      lastError: 'Received: Finite state machine error',
    });
  });

  it('reads static route counts', () => {
    expect(ps.find((p) => p.name === 'podlb_static_v4')).toMatchObject({ table: 'master4', routesImported: 1, routesExported: 0 });
  });

  it('handles an ISO since column and an empty reply', () => {
    const text =
      '2002-Name       Proto      Table      State  Since         Info\n1002-p1         BGP        ---        up     2026-11-23 10:00:00  Established\n1006-  BGP state:          Established\n0000 \n';
    expect(parseShowProtocolsAll(text)).toMatchObject([{ name: 'p1', since: '2026-11-23 10:00:00', info: 'Established', bgpState: 'Established' }]);
    expect(parseShowProtocolsAll('0000 \n')).toEqual([]);
  });
});
