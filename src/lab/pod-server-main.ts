// The process inside a lab "Pod" namespace: a tiny HTTP server.
//
//   node --max-old-space-size=32 pod-server-main.js --name web-1 --ip 10.244.1.2 --port 8080
//
// Self-contained on purpose (only node: imports): pod-server.ts may run it from dist/ or, under
// vitest, transpile this file on the fly into a temp dir, where no relative import resolves.
//
// Routes:
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
// Signals: SIGUSR2 = unhealthy, SIGHUP = healthy (both acknowledged on stdout; not SIGUSR1,
// which Node reserves for its inspector), SIGTERM/SIGINT =
// graceful stop: stop accepting, finish in-flight requests (answered with `Connection: close`),
// exit 0; exit 1 if they are not done within --grace-ms.
// Stdout carries one JSON line per event: {"event":"listening"|"health"|"draining"|"exit", ...}.
import { createServer, type ServerResponse } from 'node:http';

function argValue(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const podName = argValue('--name') ?? 'pod';
const podIp = argValue('--ip') ?? '0.0.0.0';
const port = Number(argValue('--port') ?? '8080');
const graceMs = Number(argValue('--grace-ms') ?? '25000');
const MAX_DELAY_MS = 60_000;

let healthy = true;
let draining = false;
let healthSeq = 0;
let served = 0;
let inFlight = 0;
let firstRequestAt: number | null = null;
let lastRequestAt: number | null = null;
const acceptedAt = new WeakMap<object, number>();
const wallNow = (): number => performance.timeOrigin + performance.now();

function emit(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

function setHealth(ok: boolean): void {
  healthy = ok;
  healthSeq += 1;
  emit('health', { ok, seq: healthSeq });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  // While draining, every reply closes its connection so keep-alive clients move elsewhere.
  if (draining) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://pod');
  if (url.pathname === '/healthz') {
    send(res, healthy && !draining ? 200 : 503, healthy && !draining ? 'ok\n' : 'unhealthy\n');
    return;
  }
  if (url.pathname === '/admin/health' && req.method === 'POST') {
    if (req.socket.localAddress !== '127.0.0.1') {
      send(res, 403, 'admin only from inside the pod\n');
      return;
    }
    setHealth(url.searchParams.get('ok') !== '0');
    send(res, 200, { healthy });
    return;
  }
  if (url.pathname === '/stats') {
    send(res, 200, { pod: podName, served, inFlight, healthy, draining, firstRequestAt, lastRequestAt });
    return;
  }
  if (url.pathname === '/') {
    lastRequestAt = wallNow();
    firstRequestAt ??= acceptedAt.get(req.socket) ?? lastRequestAt;
    const delayMs = Math.min(MAX_DELAY_MS, Math.max(0, Number(url.searchParams.get('delayMs') ?? 0) || 0));
    inFlight += 1;
    const reply = (): void => {
      inFlight -= 1;
      served += 1;
      send(res, 200, { pod: podName, ip: podIp, remoteAddress: req.socket.remoteAddress ?? null });
    };
    if (delayMs > 0) setTimeout(reply, delayMs);
    else reply();
    return;
  }
  send(res, 404, 'not found\n');
});

server.on('connection', (socket) => acceptedAt.set(socket, wallNow()));

// HAProxy keeps idle server connections for reuse; keep them longer than its own timeouts so
// the server side is not the one to close a connection HAProxy is about to reuse.
server.keepAliveTimeout = 65_000;

function shutdown(): void {
  if (draining) return;
  draining = true;
  emit('draining');
  server.close(() => {
    emit('exit', { code: 0 });
    process.exit(0);
  });
  // Idle keep-alive connections would hold close() open; busy ones end after their reply.
  server.closeIdleConnections();
  setTimeout(() => {
    emit('exit', { code: 1, reason: 'grace period over with requests in flight' });
    process.exit(1);
  }, graceMs).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('SIGUSR2', () => setHealth(false));
process.on('SIGHUP', () => setHealth(true));

server.listen({ host: '0.0.0.0', port }, () => emit('listening', { pod: podName, ip: podIp, port, pid: process.pid }));
