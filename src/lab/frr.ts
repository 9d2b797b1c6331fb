// An FRR 8.4 router (zebra + bgpd) in a network namespace, standing in for a ToR.
// systemd cannot start FRR in a namespace, so both daemons are started by hand (design §8):
// they daemonize (-d), so they are not children of the sandbox; stop() kills them by pid
// file and the sandbox's cleanup kills every process left in the namespace anyway.
// It accepts and installs everything its neighbors send (no ebgp-requires-policy), so the
// routes learned from podlb nodes reach its kernel table.
import { chmodSync, chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { run, waitFor, type NetnsSandbox } from './netns.js';

export interface FrrNeighbor {
  address: string;
  /** A number, or `external` (any ASN other than the router's own, FRR's `remote-as external`). */
  asn: number | 'external';
  /** TCP-MD5 password; printable ASCII without spaces. */
  password?: string;
  /** `neighbor X bfd` (starts bfdd): BFD with FRR's defaults (300 ms, multiplier 3). */
  bfd?: boolean;
  /** `neighbor X ebgp-multihop N`. */
  ebgpMultihop?: number;
}

export interface FrrNeighborState {
  state: string;
  uptimeMs?: number;
  establishedTransitions?: number;
  prefixReceivedCount?: number;
}

export interface FrrBfdPeer {
  /** up, down, init, shutdown */
  status: string;
  /** What the remote end (BIRD) announced: its required min rx, desired min tx, multiplier. */
  remoteReceiveIntervalMs?: number;
  remoteTransmitIntervalMs?: number;
  remoteDetectMultiplier?: number;
}

export interface FrrRouter {
  ns: string;
  vtysh(cmd: string): Promise<string>;
  bgpNeighbors(): Promise<Record<string, FrrNeighborState>>;
  /** `configure terminal` then each line, in one vtysh call (e.g. `router bgp 65000`, `neighbor X password Y`). */
  configure(lines: string[]): Promise<string>;
  /** BFD peers by address: status (up, down, init) and the negotiated intervals. Needs a neighbor with bfd. */
  bfdPeers(): Promise<Record<string, FrrBfdPeer>>;
  kernelRoutes(): Promise<{ dst: string; gateway?: string; protocol?: string }[]>;
  stop(): Promise<void>;
}

const FRR_DIR = '/usr/lib/frr';

function frrIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'frr'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'frr'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export function frrPassword(p: string): string {
  if (!/^[\x21-\x7e]{1,80}$/.test(p)) throw new Error('FRR neighbor password must be printable ASCII without spaces');
  return p;
}

function bgpdConf(opts: { asn: number; routerId: string; neighbors: FrrNeighbor[]; gracefulRestartHelper?: boolean }): string {
  const int = (n: number, what: string) => {
    if (!Number.isInteger(n) || n < 1 || n > 4294967295) throw new Error(`invalid ${what} ${n}`);
    return n;
  };
  const ip = (a: string) => {
    if (!/^[0-9a-fA-F.:]+$/.test(a)) throw new Error(`invalid address ${a}`);
    return a;
  };
  const lines = [
    'frr defaults traditional',
    'log syslog informational',
    '!',
    `router bgp ${int(opts.asn, 'asn')}`,
    ` bgp router-id ${ip(opts.routerId)}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp default ipv4-unicast',
  ];
  // Helper mode is FRR's default; disabling it makes a restarting node's routes vanish at once.
  if (opts.gracefulRestartHelper === false) lines.push(' bgp graceful-restart-disable');
  for (const n of opts.neighbors) {
    lines.push(
      ` neighbor ${ip(n.address)} remote-as ${n.asn === 'external' ? 'external' : int(n.asn, 'neighbor asn')}`,
      ` neighbor ${n.address} timers connect 2`,
    );
    if (n.password !== undefined) lines.push(` neighbor ${n.address} password ${frrPassword(n.password)}`);
    if (n.bfd) lines.push(` neighbor ${n.address} bfd`);
    if (n.ebgpMultihop !== undefined) lines.push(` neighbor ${n.address} ebgp-multihop ${int(n.ebgpMultihop, 'ebgp-multihop')}`);
  }
  for (const fam of ['ipv4', 'ipv6'] as const) {
    const ns = opts.neighbors.filter((n) => n.address.includes(':') === (fam === 'ipv6'));
    if (ns.length === 0) continue;
    lines.push(` address-family ${fam} unicast`);
    for (const n of ns) lines.push(`  neighbor ${n.address} activate`, `  neighbor ${n.address} soft-reconfiguration inbound`);
    lines.push(' exit-address-family');
  }
  lines.push('exit', '!', '');
  return lines.join('\n');
}

export async function startFrr(
  sb: NetnsSandbox,
  ns: string,
  opts: { dir?: string; asn: number; routerId: string; neighbors: FrrNeighbor[]; gracefulRestartHelper?: boolean },
): Promise<FrrRouter> {
  const dir = opts.dir ?? sb.tempDir('frr');
  const { uid, gid } = frrIds();
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o750);
  const name = ns.replace(/[^A-Za-z0-9_-]/g, '_').slice(-40);
  const zebraConf = join(dir, 'zebra.conf');
  const bgpdConfPath = join(dir, 'bgpd.conf');
  writeFileSync(zebraConf, `hostname ${name}\n!\n`);
  writeFileSync(bgpdConfPath, bgpdConf(opts));
  for (const f of [zebraConf, bgpdConfPath]) {
    chownSync(f, uid, gid);
    chmodSync(f, 0o640);
  }
  const common = ['-d', '-N', name, '--vty_socket', dir, '-z', join(dir, 'zserv.api'), '-P', '0', '-u', 'frr', '-g', 'frr'];
  const pidFiles = [join(dir, 'zebra.pid'), join(dir, 'bgpd.pid')];
  await sb.exec(ns, join(FRR_DIR, 'zebra'), [...common, '-f', zebraConf, '-i', pidFiles[0]!]);
  await waitFor('zebra zserv socket', () => (existsSync(join(dir, 'zserv.api')) ? true : undefined), 10_000, 25);
  await sb.exec(ns, join(FRR_DIR, 'bgpd'), [...common, '-f', bgpdConfPath, '-i', pidFiles[1]!]);
  if (opts.neighbors.some((n) => n.bfd)) {
    const bfddConf = join(dir, 'bfdd.conf');
    writeFileSync(bfddConf, '!\n');
    chownSync(bfddConf, uid, gid);
    pidFiles.push(join(dir, 'bfdd.pid'));
    await sb.exec(ns, join(FRR_DIR, 'bfdd'), [...common, '--bfdctl', join(dir, 'bfdd.sock'), '-f', bfddConf, '-i', pidFiles[2]!]);
  }

  const vtysh = (cmd: string) => run('vtysh', ['--vty_socket', dir, '-c', cmd], { timeoutMs: 10_000 });
  await waitFor('bgpd vty', async () => ((await vtysh('show bgp summary json')).includes('{') ? true : undefined), 10_000, 50);

  const pids = (): number[] =>
    pidFiles.flatMap((f) => {
      try {
        const n = Number(readFileSync(f, 'utf8').trim());
        return Number.isInteger(n) && n > 1 ? [n] : [];
      } catch {
        return [];
      }
    });

  return {
    ns,
    vtysh,
    async bgpNeighbors() {
      const raw = JSON.parse(await vtysh('show bgp neighbors json')) as Record<string, Record<string, unknown>>;
      const out: Record<string, FrrNeighborState> = {};
      for (const [addr, n] of Object.entries(raw)) {
        if (typeof n !== 'object' || n === null || !('bgpState' in n)) continue;
        const afi = (n.addressFamilyInfo ?? {}) as Record<string, { acceptedPrefixCounter?: number }>;
        const accepted = Object.values(afi).reduce((s, a) => s + (typeof a?.acceptedPrefixCounter === 'number' ? a.acceptedPrefixCounter : 0), 0);
        const st: FrrNeighborState = { state: String(n.bgpState) };
        if (typeof n.bgpTimerUpMsec === 'number') st.uptimeMs = n.bgpTimerUpMsec;
        if (typeof n.connectionsEstablished === 'number') st.establishedTransitions = n.connectionsEstablished;
        if (Object.keys(afi).length > 0) st.prefixReceivedCount = accepted;
        out[addr] = st;
      }
      return out;
    },
    configure(lines: string[]) {
      for (const l of lines) if (/[\n\r]/.test(l)) throw new Error('one vtysh line per entry');
      return run('vtysh', ['--vty_socket', dir, '-c', 'configure terminal', ...lines.flatMap((l) => ['-c', l])], { timeoutMs: 10_000 });
    },
    async bfdPeers() {
      const raw = JSON.parse((await vtysh('show bfd peers json')) || '[]') as Record<string, unknown>[];
      const out: Record<string, FrrBfdPeer> = {};
      const n = (v: unknown) => (typeof v === 'number' ? v : undefined);
      for (const p of Array.isArray(raw) ? raw : []) {
        if (typeof p.peer !== 'string') continue;
        const rx = n(p['remote-receive-interval']);
        const tx = n(p['remote-transmit-interval']);
        const m = n(p['remote-detect-multiplier']);
        out[p.peer] = {
          status: String(p.status),
          ...(rx !== undefined ? { remoteReceiveIntervalMs: rx } : {}),
          ...(tx !== undefined ? { remoteTransmitIntervalMs: tx } : {}),
          ...(m !== undefined ? { remoteDetectMultiplier: m } : {}),
        };
      }
      return out;
    },
    async kernelRoutes() {
      const routes: { dst: string; gateway?: string; protocol?: string }[] = [];
      for (const fam of ['-4', '-6']) {
        const raw = JSON.parse((await sb.exec(ns, 'ip', ['-json', fam, 'route', 'show'])) || '[]') as { dst: string; gateway?: string; protocol?: string }[];
        for (const r of raw) routes.push({ dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.protocol ? { protocol: r.protocol } : {}) });
      }
      return routes;
    },
    async stop() {
      for (const pid of pids().reverse()) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
      await waitFor(
        'FRR daemons to exit',
        () =>
          pids().every((pid) => {
            try {
              process.kill(pid, 0);
              return false;
            } catch {
              return true;
            }
          })
            ? true
            : undefined,
        5000,
        50,
      ).catch(() => {
        for (const pid of pids()) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      });
    },
  };
}
