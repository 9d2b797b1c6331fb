// A client for HAProxy's runtime API (the "stats socket"), at `unix:///path` or
// `tcp://host:port` — the address format of `LoadBalancerClass.spec.haproxy.instances`.
//
// Why interactive `prompt` mode over one kept connection, and not a semicolon-separated
// non-interactive line: HAProxy 2.6 ends every command's output with a terminator, and in
// non-interactive mode that terminator is a bare "\n". Commands that succeed print nothing
// (`set server …` → "\n"), some replies end with their own "\n" (`New server registered.\n\n`)
// and some do not (`No such server.\n`), and `show servers state` contains a blank line of its
// own. A batch reply such as "Server deleted.\nNo such server.\n\nNo such server.\n" therefore
// cannot be split back per command. In prompt mode the terminator is "\n> " after every
// command, including each command of a semicolon-separated line, and none of the commands
// podlb sends can print "\n> " themselves, so the i-th "\n> " closes the i-th reply. Measured
// on 2.6.12: `prompt` then `set server be/x state drain; del server be/x` answers
// "\n> " + "\n> " + "Only servers in maintenance mode can be deleted.\n> ".
//
// Pipelining: a batch is written as semicolon-separated lines in one write and read back as
// one stream: one round trip. Commands of one line run back to back inside HAProxy before
// any other task (checks, traffic), which the safe add sequence relies on (`oneLine`).
//
// Reconnect/backoff is the caller's job: connect failures, timeouts and a connection lost
// mid-reply throw UnreachableError. HAProxy closes an idle interactive session after
// `stats timeout` (default 10 s), so a connection idle for longer than `idleReuseMs` is
// replaced before use instead of racing that close.
import net from 'node:net';
import { PodlbError, UnreachableError, errorMessage } from '../util/errors.js';

export const HAPROXY_UNREACHABLE = 'HAPROXY_UNREACHABLE';

export type RuntimeAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Parses `unix:///path` or `tcp://host:port` (IPv6 hosts in brackets). */
export function parseRuntimeAddress(address: string): RuntimeAddress {
  const unix = /^unix:\/\/(\/.+)$/.exec(address);
  if (unix) return { kind: 'unix', path: unix[1]! };
  const tcp = /^tcp:\/\/(?:\[([0-9a-fA-F:.]+)\]|([^:/[\]]+)):(\d{1,5})$/.exec(address);
  if (tcp) {
    const port = Number(tcp[3]);
    if (port >= 1 && port <= 65535) return { kind: 'tcp', host: (tcp[1] ?? tcp[2])!, port };
  }
  throw new PodlbError('HAPROXY_INVALID_ADDRESS', `HAProxy runtime address ${JSON.stringify(address)}: want unix:///path or tcp://host:port`);
}

/** HAProxy refused a command; `reply` is HAProxy's own message. */
export class HaproxyCommandError extends PodlbError {
  readonly command: string;
  readonly reply: string;

  constructor(command: string, reply: string, options: { code?: string; transient?: boolean; message?: string } = {}) {
    super(options.code ?? 'HAPROXY_COMMAND_REFUSED', options.message ?? `HAProxy refused "${command}": ${reply.trim() || '(empty reply)'}`, {
      transient: options.transient ?? false,
    });
    this.command = command;
    this.reply = reply.trim();
  }
}

const PROMPT = '\n> ';

/**
 * Splits an interactive-mode stream into complete replies (each without its "\n> "
 * terminator) and the incomplete rest.
 */
export function splitPromptReplies(stream: string): { replies: string[]; rest: string } {
  const replies: string[] = [];
  let start = 0;
  for (;;) {
    const i = stream.indexOf(PROMPT, start);
    if (i < 0) break;
    replies.push(stream.slice(start, i));
    start = i + PROMPT.length;
  }
  return { replies, rest: stream.slice(start) };
}

/** A runtime command is one line without `;` (HAProxy's separator); reject anything else. */
export function assertCommand(cmd: string): void {
  if (cmd.trim() === '' || /[;\n\r]/.test(cmd)) {
    throw new PodlbError('HAPROXY_INVALID_COMMAND', `not a single HAProxy runtime command: ${JSON.stringify(cmd)}`);
  }
}

/** HAProxy reads a CLI line into one buffer (tune.bufsize, 16 KiB by default): stay well below. */
const MAX_LINE = 8000;

export function batchLines(commands: readonly string[], oneLine: boolean): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const cmd of commands) {
    assertCommand(cmd);
    const next = cur === '' ? cmd : `${cur}; ${cmd}`;
    if (next.length > MAX_LINE && cur !== '') {
      if (oneLine) throw new PodlbError('HAPROXY_INVALID_COMMAND', `batch longer than ${MAX_LINE} characters cannot be sent as one line`);
      lines.push(cur);
      cur = cmd;
    } else {
      cur = next;
    }
  }
  if (cur !== '') lines.push(cur);
  return lines;
}

export interface HaproxyRuntimeOptions {
  /** Per round trip, including connect. Default 5000 ms. */
  timeoutMs?: number;
  /** Replace a kept connection idle for longer than this (below HAProxy's `stats timeout`). Default 5000 ms. */
  idleReuseMs?: number;
  /** Injected clock, for tests. */
  now?: () => number;
}

interface Pending {
  expected: number;
  replies: string[];
  resolve: (replies: string[]) => void;
  reject: (err: unknown) => void;
}

export class HaproxyRuntime {
  readonly address: string;
  readonly #target: RuntimeAddress;
  readonly #timeoutMs: number;
  readonly #idleReuseMs: number;
  readonly #now: () => number;
  #socket: net.Socket | null = null;
  #buffer = '';
  /** Replies still to discard (the `prompt` command's own). */
  #skip = 0;
  #pending: Pending | null = null;
  #lastUsed = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #roundTrips = 0;
  #connects = 0;
  #closed = false;

  constructor(address: string, options: HaproxyRuntimeOptions = {}) {
    this.address = address;
    this.#target = parseRuntimeAddress(address);
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#idleReuseMs = options.idleReuseMs ?? 5000;
    this.#now = options.now ?? Date.now;
  }

  /** Request/response exchanges so far (a pipelined batch counts once). Read by the bench. */
  get roundTrips(): number {
    return this.#roundTrips;
  }

  /** Connections opened so far. */
  get connects(): number {
    return this.#connects;
  }

  /** One command; its reply without the prompt. */
  async command(cmd: string, options: { timeoutMs?: number } = {}): Promise<string> {
    const [reply] = await this.pipeline([cmd], options);
    return reply!;
  }

  /**
   * Several commands in one round trip; one reply per command, in order. `oneLine`: all on a
   * single semicolon-separated line, so HAProxy runs them back to back (throws if too long).
   */
  pipeline(commands: readonly string[], options: { timeoutMs?: number; oneLine?: boolean } = {}): Promise<string[]> {
    if (commands.length === 0) return Promise.resolve([]);
    const lines = batchLines(commands, options.oneLine ?? false);
    const run = this.#queue.then(() => this.#exchange(lines, commands.length, options.timeoutMs ?? this.#timeoutMs));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    this.#drop(null);
  }

  async #exchange(lines: string[], expected: number, timeoutMs: number): Promise<string[]> {
    if (this.#closed) throw new PodlbError('HAPROXY_CLIENT_CLOSED', `HAProxy runtime client for ${this.address} is closed`);
    if (this.#socket && this.#now() - this.#lastUsed > this.#idleReuseMs) this.#drop(null);
    this.#roundTrips++;
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The reply stream is now out of step with our requests: start over next time.
        this.#drop(new UnreachableError(HAPROXY_UNREACHABLE, `HAProxy at ${this.address} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        this.#pending = null;
        this.#lastUsed = this.#now();
        fn();
      };
      this.#pending = {
        expected,
        replies: [],
        resolve: (r) => done(() => resolve(r)),
        reject: (e) => done(() => reject(e)),
      };
      let payload = `${lines.join('\n')}\n`;
      if (!this.#socket) {
        this.#socket = this.#connect();
        // Enter interactive mode in the same write: its own (empty) reply is skipped.
        payload = `prompt\n${payload}`;
        this.#skip = 1;
      }
      this.#socket.write(payload);
    });
  }

  #connect(): net.Socket {
    this.#connects++;
    this.#buffer = '';
    const t = this.#target;
    const socket = t.kind === 'unix' ? net.createConnection({ path: t.path }) : net.createConnection({ host: t.host, port: t.port });
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      if (socket !== this.#socket) return;
      this.#onData(chunk);
    });
    socket.on('error', (err) => {
      if (socket !== this.#socket) return;
      this.#drop(new UnreachableError(HAPROXY_UNREACHABLE, `HAProxy at ${this.address}: ${errorMessage(err)}`, err));
    });
    socket.on('close', () => {
      if (socket !== this.#socket) return;
      this.#drop(new UnreachableError(HAPROXY_UNREACHABLE, `HAProxy at ${this.address} closed the connection before answering`));
    });
    return socket;
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    const { replies, rest } = splitPromptReplies(this.#buffer);
    this.#buffer = rest;
    const p = this.#pending;
    for (const r of replies) {
      if (this.#skip > 0) {
        this.#skip--;
        continue;
      }
      if (!p) continue; // Nothing asked: cannot happen with a serial queue; ignore.
      p.replies.push(r);
    }
    if (p && p.replies.length >= p.expected) p.resolve(p.replies.slice(0, p.expected));
  }

  /** Forgets the connection; fails the pending exchange with `err` (if any). */
  #drop(err: unknown): void {
    const s = this.#socket;
    this.#socket = null;
    this.#buffer = '';
    this.#skip = 0;
    if (s) s.destroy();
    const p = this.#pending;
    if (p) p.reject(err ?? new UnreachableError(HAPROXY_UNREACHABLE, `HAProxy connection to ${this.address} was closed`));
  }
}
