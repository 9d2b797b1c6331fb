import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isListingCheaper, parseStat, processIdentity, ServerStatParseError, splitCsvLine, stateRowOfStat } from './haproxy-server-stat.js';
import { parseServersState, toObservedMember } from './haproxy-servers-state.js';

// Captured from HAProxy 2.6.12 by test/haproxy-capture-fixtures.test.ts (UPDATE_FIXTURES=1):
// `show servers state web` and `show stat web 4 -1` sent in one pipeline, the same moment.
const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'haproxy-fixtures', name), 'utf8');
const P = 'podlb_node-a_';

describe('show stat, one server: the same answers as show servers state', () => {
  const state = new Map(parseServersState(fixture('servers-state-web.txt'))!.map((r) => [r.name, r]));
  const stat = parseStat(fixture('stat-web.txt'))!;

  it('reads every server row of the capture, and nothing else (no backend row)', () => {
    expect(stat.map((r) => r.get('svname')).sort()).toEqual([...state.keys()].sort());
  });

  // The capture's `maint` server was added with a check that was never enabled: `show stat`
  // shows it as having none, so only the caller's knowledge keeps it pending.
  it.each([...parseServersState(fixture('servers-state-web.txt'))!.map((r) => r.name)])('%s', (name) => {
    const row = stat.find((r) => r.get('svname') === name)!;
    const want = toObservedMember(state.get(name)!);
    const expectCheck = name !== `${P}unchecked`;
    const got = toObservedMember(stateRowOfStat(row, expectCheck));
    expect({ admin: got.admin, health: got.health, address: got.address, port: got.port, backend: got.backend }).toEqual({
      admin: want.admin,
      health: want.health,
      address: want.address,
      port: want.port,
      backend: want.backend,
    });
    expect(stateRowOfStat(row, expectCheck)).toMatchObject({ id: state.get(name)!.id, backendId: state.get(name)!.backendId });
  });

  it('a check configured but never enabled reads pending with expectCheck, unchecked without', () => {
    const row = stat.find((r) => r.get('svname') === `${P}maint`)!;
    expect(toObservedMember(stateRowOfStat(row, true))).toMatchObject({ admin: 'maint', health: 'pending' });
    expect(toObservedMember(stateRowOfStat(row, false)).health).toBe('unchecked');
  });

  it('a check in progress ("* L7OK") keeps its last result', () => {
    const row = new Map(stat.find((r) => r.get('svname') === `${P}healthy`)!);
    row.set('check_status', '* L7OK');
    expect(toObservedMember(stateRowOfStat(row, true))).toMatchObject({ health: 'healthy', detail: 'L7OK' });
  });

  it('"No such proxy." is null; a reply for an unknown server id has no rows', () => {
    expect(parseStat(fixture('stat-missing.txt'))).toBeNull();
    expect(parseStat(fixture('stat-web.txt').split('\n')[0]!)).toEqual([]);
  });

  it.each([
    ['no header', 'web,x,0\n'],
    ['a header without check_status', '# pxname,svname,status,sid,addr,type\nweb,x,UP,3,127.0.0.1:80,2\n'],
    [
      'an unknown check status',
      `${fixture('stat-web.txt').split('\n')[0]}\n${fixture('stat-web.txt')
        .split('\n')
        .find((l) => l.includes(`${P}healthy,`))!
        .replace(',L7OK,', ',L9XX,')}`,
    ],
  ])('refuses %s', (_, reply) => {
    expect(() => parseStat(reply)!.map((r) => stateRowOfStat(r, true))).toThrow(ServerStatParseError);
  });
});

describe('splitCsvLine', () => {
  it.each([
    ['a,b,,c', ['a', 'b', '', 'c']],
    ['a,"x, y",b', ['a', 'x, y', 'b']],
    ['"say ""hi""",', ['say "hi"', '']],
    ['', ['']],
  ])('%s', (line, want) => {
    expect(splitCsvLine(line)).toEqual(want);
  });
  it('refuses an unterminated quote', () => {
    expect(() => splitCsvLine('a,"b')).toThrow(ServerStatParseError);
  });
});

describe('processIdentity', () => {
  it('is the Pid and start time of `show info`', () => {
    expect(processIdentity(fixture('info.txt'))).toMatch(/^pid \d+ started \d{10}$/);
  });
  it('changes with either', () => {
    const info = 'Name: HAProxy\nPid: 7\nUptime_sec: 3\nStart_time_sec: 1796563435\n';
    expect(processIdentity(info)).not.toBe(processIdentity(info.replace('Pid: 7', 'Pid: 8')));
    expect(processIdentity(info)).not.toBe(processIdentity(info.replace('1796563435', '1796563436')));
  });
  it('refuses a reply without them', () => {
    expect(() => processIdentity('Unknown command.')).toThrow(ServerStatParseError);
  });
});

describe('isListingCheaper (HAProxy 2.6 CPU per command, measured)', () => {
  it.each([
    [10, 5000, false],
    [32, 5000, false],
    [33, 5000, true],
    [1, 20, false],
    [2, 20, true],
    [1, 0, true],
    [1, 1000, false],
  ])('%i asked in a backend of %i: %s', (asked, size, want) => {
    expect(isListingCheaper(asked, size)).toBe(want);
  });
});
