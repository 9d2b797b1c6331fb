// Starts a real HAProxy (2.6) for the lab and the integration suites: foreground (`-db`, no
// master process), a runtime socket at `level admin`, every timeout set, and backends whose
// algorithm accepts dynamic servers (roundrobin unless told otherwise). A frontend bound on a
// unix socket lets the root namespace send HTTP through HAProxy with http.request({socketPath}).
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HaproxyRuntime } from '../lb/haproxy-runtime.js';
import { waitFor, type NetnsSandbox, type SpawnedProcess } from './netns.js';

export interface HaproxyBackendSpec {
  name: string;
  /** Default roundrobin. A static one (`static-rr`, `source` with map-based hash) refuses dynamic servers. */
  balance?: string;
  /** `option httpchk GET <path>`: the check every dynamic server with `check` runs. */
  httpCheckPath?: string;
  /** Servers written in the config (`server <name> <address>`), beside the dynamic ones. */
  servers?: { name: string; address: string }[];
}

export interface HaproxyFrontendSpec {
  name: string;
  /** e.g. `unix@/path/http.sock` or `172.31.100.2:80`. */
  bind: string;
  backend: string;
}

export interface HaproxyProcess {
  ns: string | null;
  dir: string;
  configPath: string;
  /** `unix:///…/admin.sock` */
  runtimeAddress: string;
  stop(): Promise<void>;
  /** Full restart: dynamic servers are lost, as on a real reload. */
  restart(): Promise<void>;
  /** Starts a stopped instance again (with no dynamic servers). */
  start(): Promise<void>;
}

export interface StartHaproxyOptions {
  dir: string;
  backends: HaproxyBackendSpec[];
  frontends?: HaproxyFrontendSpec[];
  statsSocketLevel?: 'admin';
  /** `stats maxconn`: HAProxy serves 10 runtime-API connections at once by default (one per agent). */
  statsMaxconn?: number;
  /** Sections appended verbatim (benches: a TCP frontend that checks can connect to). */
  extraSections?: string[];
}

const NAME_RE = /^[A-Za-z0-9_.:-]+$/;

export function renderHaproxyConfig(opts: StartHaproxyOptions & { adminSocket: string }): string {
  for (const n of [...opts.backends.map((b) => b.name), ...(opts.frontends ?? []).map((f) => f.name)]) {
    if (!NAME_RE.test(n)) throw new Error(`haproxy proxy name ${JSON.stringify(n)}: only [A-Za-z0-9_.:-]`);
  }
  const lines = [
    'global',
    `  stats socket ${opts.adminSocket} mode 600 level ${opts.statsSocketLevel ?? 'admin'}`,
    // Idle interactive runtime sessions are closed after this; HaproxyRuntime reconnects.
    '  stats timeout 1m',
    ...(opts.statsMaxconn ? [`  stats maxconn ${opts.statsMaxconn}`] : []),
    '  nbthread 2',
    '',
    'defaults',
    '  mode http',
    '  option dontlognull',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 10s',
    '  timeout queue 5s',
    '  timeout check 2s',
    '',
  ];
  for (const f of opts.frontends ?? []) {
    lines.push(`frontend ${f.name}`, `  bind ${f.bind}`, `  default_backend ${f.backend}`, '');
  }
  for (const b of opts.backends) {
    lines.push(`backend ${b.name}`, `  balance ${b.balance ?? 'roundrobin'}`);
    if (b.httpCheckPath) lines.push(`  option httpchk GET ${b.httpCheckPath}`);
    for (const s of b.servers ?? []) {
      if (!NAME_RE.test(s.name) || !/^[0-9A-Fa-f.:[\]]+:\d+$/.test(s.address))
        throw new Error(`haproxy server ${JSON.stringify(s)}: name [A-Za-z0-9_.:-], address ip:port`);
      lines.push(`  server ${s.name} ${s.address}`);
    }
    lines.push('');
  }
  for (const section of opts.extraSections ?? []) lines.push(section, '');
  return lines.join('\n');
}

export async function startHaproxy(sb: NetnsSandbox, ns: string | null, opts: StartHaproxyOptions): Promise<HaproxyProcess> {
  const adminSocket = join(opts.dir, 'admin.sock');
  const configPath = join(opts.dir, 'haproxy.cfg');
  const runtimeAddress = `unix://${adminSocket}`;
  writeFileSync(configPath, renderHaproxyConfig({ ...opts, adminSocket }));

  let proc: SpawnedProcess | null = null;

  const launch = async (): Promise<void> => {
    if (existsSync(adminSocket)) rmSync(adminSocket);
    const p = sb.spawn(ns, 'haproxy', ['-db', '-f', configPath], { name: 'haproxy' });
    proc = p;
    let exited = false;
    void p.exited.then(() => {
      exited = true;
    });
    const probe = new HaproxyRuntime(runtimeAddress, { timeoutMs: 1000 });
    try {
      await waitFor(
        'haproxy runtime socket',
        async () => {
          if (exited) throw new Error(`haproxy exited: ${p.output().trim()}`);
          if (!existsSync(adminSocket)) return undefined;
          const info = await probe.command('show info');
          return /^Name: HAProxy$/m.test(info) ? true : undefined;
        },
        10_000,
        20,
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${p.output().trim()}`);
      });
    } finally {
      await probe.close();
    }
  };

  const stop = async (): Promise<void> => {
    const p = proc as SpawnedProcess | null;
    proc = null;
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill('SIGTERM'); // hard stop: closes every connection at once
    const t = setTimeout(() => p.child.kill('SIGKILL'), 3000);
    await p.exited;
    clearTimeout(t);
  };

  await launch();
  return {
    ns,
    dir: opts.dir,
    configPath,
    runtimeAddress,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    start: async () => {
      if (proc) return;
      await launch();
    },
  };
}
