import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServersState, ServersStateParseError, toObservedMember } from './haproxy-servers-state.js';

// Captured from HAProxy 2.6.12 by test/haproxy-capture-fixtures.test.ts (UPDATE_FIXTURES=1).
const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'haproxy-fixtures', name), 'utf8');
const P = 'podlb_node-a_';

describe('parseServersState + toObservedMember on captured HAProxy 2.6 output', () => {
  const web = parseServersState(fixture('servers-state-web.txt'))!;
  const byName = new Map(web.map((r) => [r.name, toObservedMember(r)]));

  it.each([
    // name, admin, health, detail: the state each server was put in before the capture
    ['maint', 'maint', 'pending', 'MAINT, DOWN, check not enabled (INI)'], // `add server … check`, nothing else
    ['pending', 'ready', 'pending', 'DOWN, no check completed yet (INI)'], // safe add line, first check not run yet
    ['unsafe', 'ready', 'pending', 'UP, no check completed yet (INI)'], // add+enable without `health down`: UP before any check
    ['unchecked', 'ready', 'unchecked', 'UP, no check'],
    ['healthy', 'ready', 'healthy', 'L7OK'],
    ['rising', 'ready', 'pending', 'L7OK, DOWN until rise checks pass'], // rise 1000: passing but not UP yet
    ['down', 'ready', 'unhealthy', 'L7STS, DOWN'], // /healthz answers 503
    ['l4con', 'ready', 'unhealthy', 'L4CON, DOWN'], // nothing listens
    ['goingdown', 'ready', 'unhealthy', 'L7STS, UP going down'], // was UP, fall 1000
    ['drain', 'drain', 'healthy', 'DRAIN, L7OK'],
  ] as const)('%s → %s/%s', (short, admin, health, detail) => {
    const m = byName.get(`${P}${short}`);
    expect(m).toMatchObject({ backend: 'web', address: '127.0.0.1', admin, health, detail });
    expect(m!.port).toBeGreaterThan(0);
  });

  it('reads every row, other nodes included (filtering is the caller’s)', () => {
    expect(web).toHaveLength(11);
    expect(web.map((r) => r.name)).toContain('podlb_node-b_other');
  });

  it('a TCP check (no option httpchk) passing is L4OK → healthy', () => {
    const [row] = parseServersState(fixture('servers-state-tcp.txt'))!;
    expect(toObservedMember(row!)).toMatchObject({ name: `${P}l4ok`, health: 'healthy', detail: 'L4OK', admin: 'ready' });
  });

  it('an empty backend has no rows; a missing one is null', () => {
    expect(parseServersState(fixture('servers-state-empty.txt'))).toEqual([]);
    expect(parseServersState(fixture('servers-state-missing.txt'))).toBeNull();
  });

  it.each([
    ['an error message', 'Unknown command.'],
    ['another format version', '2\n# be_id be_name\n'],
    ['a header without srv_check_status', '1\n# be_id be_name srv_id srv_name srv_addr\n'],
    ['a non-numeric state', fixture('servers-state-tcp.txt').replace(' 2 0 1 1 1 6 3 3 6 ', ' x 0 1 1 1 6 3 3 6 ')],
    ['a short row', fixture('servers-state-tcp.txt').replace(/ - - 0\n$/, '\n')],
  ])('rejects %s', (_what, text) => {
    expect(() => parseServersState(text)).toThrow(ServersStateParseError);
  });
});

describe('canonicalAddress (adoption compares what HAProxy prints)', () => {
  it.each([
    ['fd00:0:0::1', 'fd00::1'], // HAProxy 2.6 `add server be/v6 [fd00:0:0::1]:8080` shows srv_addr fd00::1
    ['FD00::0001', 'fd00::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['10.0.0.1', '10.0.0.1'],
  ])('%s → %s', async (input, want) => {
    const { canonicalAddress } = await import('./haproxy-commands.js');
    expect(canonicalAddress(input)).toBe(want);
  });
});
