// The process that serves every lab "Pod" of a sandbox: one small HTTP server per Pod, each
// listening inside its Pod's own network namespace, all in this one Node.js process.
//
//   node pod-host-main.js --libc <URL of native/libc.js or .ts>
//
// Why one process and not one per Pod: a Node.js process per Pod cost about 40 MB and a
// process start each, and 200 of them answering HAProxy's checks (two instances, inter 500 ms:
// 800 checks a second) kept a 2-core machine at a load of 16, so a burst measured the lab, not
// the agent. A listening socket keeps the namespace it was created in, so this process opens
// each Pod's socket inside the Pod's namespace (setns there and back, native/libc.ts inNetns)
// and serves them all from its one event loop; what a client sees of a Pod is unchanged.
//
// Self-contained on purpose (only node: imports, and native/libc loaded from the URL it is
// given): pod-server.ts runs it from dist/ or, under vitest, runs the .ts in place (Node strips
// the types), where a relative `.js` import would not resolve.
//
// Commands, one JSON line each on stdin:
//   {"op":"add","pod":NAME,"netns":PATH,"ip":IP,"port":N,"graceMs":N}
//   {"op":"health","pod":NAME,"ok":BOOL}
//   {"op":"stop","pod":NAME,"graceful":BOOL,"graceMs":N}
// Events, one JSON line each on stdout, every one naming its pod:
//   listening | health {ok, seq} | draining | exit {code, reason?} | failed {message}
// `exit` is what a Pod's own process exit was: code 0 once a graceful stop finished its
// in-flight requests; null for a forced stop, or when the grace period ran out first (the
// kubelet's SIGKILL then).
//
// Routes of each Pod:
//   GET /             200 {pod, ip, remoteAddress}: remoteAddress is the peer as the Pod sees it,
//                     so a test can prove the LB's address arrives un-NATed. `?delayMs=N` holds
//                     the reply N ms (in-flight requests for drain tests).
//   GET /healthz      200 while healthy, 503 after it was switched off (and while draining).
//   GET /stats        {pod, served, inFlight, healthy, draining, firstRequestAt, lastRequestAt}:
//                     `served` counts GET / replies, so a test can see from the pod's side which
//                     requests reached it. The two times are wall-clock ms since the epoch (sub-ms,
//                     null before the first GET /), comparable with times other processes on this
//                     machine take (performance.timeOrigin + performance.now()), e.g. the commit of
//                     the Pod's readiness gate: firstRequestAt is when the connection that carried
//                     the first GET / was accepted (the LB opens one only for a request it sends
//                     here: the earliest trace of that request, before its headers are parsed),
//                     lastRequestAt when the last GET / was dispatched.
//   POST /admin/health?ok=0|1
//                     switches health; accepted only on a connection to 127.0.0.1, i.e. only from
//                     inside this Pod's own namespace (nothing else can reach its loopback).
// While a Pod drains, every reply closes its connection (`Connection: close`).
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';

interface Libc {
  AF_INET: number;
  SOCK_STREAM: number;
  SOCK_NONBLOCK: number;
  SOCK_CLOEXEC: number;
  SOL_SOCKET: number;
  SO_REUSEADDR: number;
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  listen(fd: number, backlog: number): number;
  close(fd: number): number;
  errno(): number;
  int32(v: number): Buffer;
  sockaddrIn(ip: string, port: number): Buffer;
  inNetns<T>(nsPath: string, fn: () => T, error: (operation: string, errno: number) => Error): T;
}

function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const libcUrl = argValue('--libc');
if (!libcUrl) throw new Error('pod-host-main: --libc URL is required');
const libc = (await import(libcUrl)) as Libc;

const MAX_DELAY_MS = 60_000;
const wallNow = (): number => performance.timeOrigin + performance.now();

function emit(pod: string, event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ pod, event, ...fields })}\n`);
}

/** A TCP socket listening on 0.0.0.0:port inside the namespace at `nsPath`. */
function listenIn(nsPath: string, port: number): number {
  const fail = (operation: string, errno: number): Error => new Error(`${operation}: errno ${errno}`);
  return libc.inNetns(
    nsPath,
    () => {
      const fd = libc.socket(libc.AF_INET, libc.SOCK_STREAM | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, 0);
      if (fd < 0) throw fail('socket', libc.errno());
      try {
        if (libc.setsockopt(fd, libc.SOL_SOCKET, libc.SO_REUSEADDR, libc.int32(1), 4) < 0) throw fail('setsockopt SO_REUSEADDR', libc.errno());
        if (libc.bind(fd, libc.sockaddrIn('0.0.0.0', port), 16) < 0) throw fail(`bind 0.0.0.0:${port}`, libc.errno());
        if (libc.listen(fd, 511) < 0) throw fail('listen', libc.errno());
      } catch (err) {
        libc.close(fd);
        throw err;
      }
      return fd;
    },
    fail,
  );
}

class PodServer {
  readonly name: string;
  readonly ip: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #acceptedAt = new WeakMap<object, number>();
  #healthy = true;
  #draining = false;
  #healthSeq = 0;
  #served = 0;
  #inFlight = 0;
  #firstRequestAt: number | null = null;
  #lastRequestAt: number | null = null;
  #exited = false;

  constructor(name: string, ip: string) {
    this.name = name;
    this.ip = ip;
    this.#server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://pod');
      if (url.pathname === '/healthz') {
        const ok = this.#healthy && !this.#draining;
        this.#send(res, ok ? 200 : 503, ok ? 'ok\n' : 'unhealthy\n');
      } else if (url.pathname === '/admin/health' && req.method === 'POST') {
        if (req.socket.localAddress !== '127.0.0.1') this.#send(res, 403, 'admin only from inside the pod\n');
        else {
          this.setHealth(url.searchParams.get('ok') !== '0');
          this.#send(res, 200, { healthy: this.#healthy });
        }
      } else if (url.pathname === '/stats') {
        this.#send(res, 200, {
          pod: name,
          served: this.#served,
          inFlight: this.#inFlight,
          healthy: this.#healthy,
          draining: this.#draining,
          firstRequestAt: this.#firstRequestAt,
          lastRequestAt: this.#lastRequestAt,
        });
      } else if (url.pathname === '/') {
        this.#lastRequestAt = wallNow();
        this.#firstRequestAt ??= this.#acceptedAt.get(req.socket) ?? this.#lastRequestAt;
        const delayMs = Math.min(MAX_DELAY_MS, Math.max(0, Number(url.searchParams.get('delayMs') ?? 0) || 0));
        this.#inFlight += 1;
        const reply = (): void => {
          this.#inFlight -= 1;
          this.#served += 1;
          this.#send(res, 200, { pod: name, ip, remoteAddress: req.socket.remoteAddress ?? null });
        };
        if (delayMs > 0) setTimeout(reply, delayMs);
        else reply();
      } else this.#send(res, 404, 'not found\n');
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#acceptedAt.set(socket, wallNow());
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // HAProxy keeps idle server connections for reuse; keep them longer than its own timeouts so
    // the server side is not the one to close a connection HAProxy is about to reuse.
    this.#server.keepAliveTimeout = 65_000;
  }

  listen(fd: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ fd }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  setHealth(ok: boolean): void {
    this.#healthy = ok;
    this.#healthSeq += 1;
    emit(this.name, 'health', { ok, seq: this.#healthSeq });
  }

  /** Graceful: stop accepting, finish in-flight requests, exit 0; killed (null) if the grace runs out first. */
  stop(graceful: boolean, graceMs: number, onExit: () => void): void {
    const exit = (code: number | null, reason?: string): void => {
      if (this.#exited) return;
      this.#exited = true;
      for (const s of this.#sockets) s.destroy();
      this.#server.close();
      emit(this.name, 'exit', { code, ...(reason ? { reason } : {}) });
      onExit();
    };
    if (!graceful) {
      exit(null);
      return;
    }
    if (this.#draining) return;
    this.#draining = true;
    emit(this.name, 'draining');
    this.#server.close(() => exit(0));
    // Idle keep-alive connections would hold close() open; busy ones end after their reply.
    this.#server.closeIdleConnections();
    setTimeout(() => exit(null, 'grace period over with requests in flight'), graceMs).unref();
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string | number> = {
      'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
      'content-length': Buffer.byteLength(text),
    };
    if (this.#draining) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(text);
  }
}

const pods = new Map<string, PodServer>();

type Command =
  | { op: 'add'; pod: string; netns: string; ip: string; port: number }
  | { op: 'health'; pod: string; ok: boolean }
  | { op: 'stop'; pod: string; graceful: boolean; graceMs: number };

async function handle(c: Command): Promise<void> {
  if (c.op === 'add') {
    if (pods.has(c.pod)) throw new Error(`pod ${c.pod} is already served`);
    const fd = listenIn(c.netns, c.port);
    const server = new PodServer(c.pod, c.ip);
    pods.set(c.pod, server);
    await server.listen(fd).catch((err: unknown) => {
      pods.delete(c.pod);
      libc.close(fd);
      throw err;
    });
    emit(c.pod, 'listening', { ip: c.ip, port: c.port, pid: process.pid });
    return;
  }
  const pod = pods.get(c.pod);
  if (!pod) throw new Error(`no pod ${c.pod}`);
  if (c.op === 'health') pod.setHealth(c.ok);
  else pod.stop(c.graceful, c.graceMs, () => pods.delete(c.pod));
}

createInterface({ input: process.stdin }).on('line', (line) => {
  let c: Command;
  try {
    c = JSON.parse(line) as Command;
  } catch {
    return;
  }
  handle(c).catch((err: unknown) => emit(c.pod, 'failed', { op: c.op, message: err instanceof Error ? err.message : String(err) }));
});
// The lab went away (its end of stdin closed): nothing is left to serve.
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
