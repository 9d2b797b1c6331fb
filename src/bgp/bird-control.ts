// Client for BIRD's control socket (the protocol birdc speaks). A reply is a run of lines
// `NNNN-text` (more follows) ended by `NNNN text`; lines that start with a space continue the
// previous code. 0xxx: command status, 1xxx: table data, 2xxx: table headers, 8xxx: runtime
// errors, 9xxx: parse errors. On connect BIRD greets with `0001 BIRD 2.0.12 ready.`.
//
// One command in flight at a time (the socket has no request ids), a timeout per command, and
// a reconnect on the next command after any failure: a timed-out connection is dropped
// because a late reply would otherwise be taken as the answer to the next command.
import { createConnection, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PodlbError, UnreachableError } from '../util/errors.js';
import { parseShowProtocolsAll, type BirdProtocolStatus, type BirdReplyLine } from './bird-protocols.js';

export type { BirdReplyLine };

export interface BirdReply {
  /** Code of the final line. */
  readonly code: number;
  /** Text of the final line. */
  readonly text: string;
  readonly lines: readonly BirdReplyLine[];
  /** Round trip, write to final line. */
  readonly durationMs: number;
}

/** BIRD answered with an error code (8xxx runtime, 9xxx parse) or an unexpected status. */
export class BirdCommandError extends PodlbError {
  readonly birdCode: number;
  readonly birdText: string;
  readonly command: string;

  constructor(command: string, birdCode: number, birdText: string) {
    super('BIRD_COMMAND_FAILED', `BIRD refused "${command}": ${String(birdCode).padStart(4, '0')} ${birdText}`);
    this.birdCode = birdCode;
    this.birdText = birdText;
    this.command = command;
  }
}

export interface BirdControlOptions {
  /** Per command, including a connect that the command triggers. Default 10 s. */
  timeoutMs?: number;
}

/** configure answers that mean "accepted": done, in progress, queued behind a running one. */
export const CONFIGURE_OK_CODES: ReadonlySet<number> = new Set([3, 4, 5]);
export const CONFIG_CHECK_OK = 20;

interface Pending {
  lines: BirdReplyLine[];
  resolve: (r: { lines: BirdReplyLine[]; code: number; text: string }) => void;
  reject: (e: Error) => void;
}

export function isErrorCode(code: number): boolean {
  return code >= 8000;
}

/** `"path"` for configure commands; refuses what BIRD's string lexer cannot carry. */
function quotePath(file: string): string {
  if (!file || /["\\\n\r\0]/.test(file)) throw new PodlbError('BIRD_BAD_PATH', `config path ${JSON.stringify(file)} cannot be passed to BIRD`);
  return `"${file}"`;
}

export class BirdControl {
  readonly socketPath: string;
  readonly #timeoutMs: number;
  #socket: Socket | undefined;
  /** The socket events are taken from (connecting or connected); stale sockets are ignored. */
  #current: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  #buf = '';
  #lastCode = 0;
  #pending: Pending | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #lastRoundTripMs: number | undefined;

  constructor(socketPath: string, opts: BirdControlOptions = {}) {
    this.socketPath = socketPath;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Round trip of the last command that got a reply. */
  get lastRoundTripMs(): number | undefined {
    return this.#lastRoundTripMs;
  }

  /** Sends one command line; resolves with the reply whatever its code, unless it is 8xxx/9xxx. */
  command(raw: string): Promise<BirdReply> {
    if (/[\n\r]/.test(raw)) return Promise.reject(new PodlbError('BIRD_BAD_COMMAND', 'a BIRD command is one line'));
    const run = this.#queue.then(
      () => this.#exec(raw),
      () => this.#exec(raw),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** `configure check "file"`: resolves on 0020 Configuration OK, else BirdCommandError (8002 file:line:col message). */
  async configureCheck(file: string): Promise<BirdReply> {
    const cmd = `configure check ${quotePath(file)}`;
    const r = await this.command(cmd);
    if (r.code !== CONFIG_CHECK_OK) throw new BirdCommandError(cmd, r.code, r.text);
    return r;
  }

  /**
   * `configure` (re-reads the file BIRD was started with) or `configure "file"`. BIRD 2.0.12
   * answers 0003 Reconfigured, 0004 Reconfiguration in progress (protocols still
   * restarting), 0005 Reconfiguration already in progress, queueing new config; errors are
   * 8002 file:line:col message; 0008 (shutting down) is treated as an error too.
   */
  async configure(file?: string): Promise<BirdReply> {
    const cmd = file === undefined ? 'configure' : `configure ${quotePath(file)}`;
    const r = await this.command(cmd);
    if (!CONFIGURE_OK_CODES.has(r.code)) throw new BirdCommandError(cmd, r.code, r.text);
    return r;
  }

  async showProtocolsAll(): Promise<BirdProtocolStatus[]> {
    const r = await this.command('show protocols all');
    return parseShowProtocolsAll(r.lines);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#drop(new UnreachableError('BIRD_CLOSED', 'BirdControl closed'));
  }

  async #exec(raw: string): Promise<BirdReply> {
    if (this.#closed) throw new UnreachableError('BIRD_CLOSED', 'BirdControl closed');
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new UnreachableError('BIRD_TIMEOUT', `BIRD did not answer "${raw}" within ${this.#timeoutMs} ms (socket ${this.socketPath})`);
        this.#drop(err);
        reject(err);
      }, this.#timeoutMs);
    });
    try {
      const sock = await Promise.race([this.#connect(), timeout]);
      const reply = await Promise.race([this.#send(sock, raw), timeout]);
      const durationMs = performance.now() - start;
      this.#lastRoundTripMs = durationMs;
      if (isErrorCode(reply.code)) throw new BirdCommandError(raw, reply.code, reply.text);
      return { ...reply, durationMs };
    } finally {
      clearTimeout(timer);
    }
  }

  #send(sock: Socket, raw: string): Promise<{ lines: BirdReplyLine[]; code: number; text: string }> {
    return new Promise((resolve, reject) => {
      this.#pending = { lines: [], resolve, reject };
      sock.write(`${raw}\n`);
    });
  }

  #connect(): Promise<Socket> {
    if (this.#socket) return Promise.resolve(this.#socket);
    if (this.#connecting) return this.#connecting;
    this.#connecting = new Promise<Socket>((resolve, reject) => {
      const sock = createConnection({ path: this.socketPath });
      sock.setEncoding('utf8');
      this.#current = sock;
      this.#buf = '';
      // The greeting is the first reply: wait for it before any command.
      this.#pending = {
        lines: [],
        resolve: (r) => {
          if (r.code !== 1) {
            sock.destroy();
            reject(new UnreachableError('BIRD_UNREACHABLE', `unexpected greeting from ${this.socketPath}: ${r.code} ${r.text}`));
            return;
          }
          this.#socket = sock;
          resolve(sock);
        },
        reject,
      };
      sock.on('data', (d: string) => {
        if (sock === this.#current) this.#onData(d);
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (sock !== this.#current) return;
        const e =
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES'
            ? new UnreachableError('BIRD_UNREACHABLE', `BIRD control socket ${this.socketPath}: ${err.code} (is BIRD running?)`, err)
            : new UnreachableError('BIRD_UNREACHABLE', `BIRD control socket ${this.socketPath}: ${err.message}`, err);
        this.#drop(e);
      });
      sock.on(
        'close',
        () => sock === this.#current && this.#drop(new UnreachableError('BIRD_UNREACHABLE', `BIRD closed the control socket ${this.socketPath}`)),
      );
    }).finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #drop(err: Error): void {
    const sock = this.#current;
    this.#socket = undefined;
    this.#current = undefined;
    const p = this.#pending;
    this.#pending = undefined;
    this.#buf = '';
    if (sock && !sock.destroyed) sock.destroy();
    p?.reject(err);
  }

  #onData(chunk: string): void {
    this.#buf += chunk;
    for (let i = this.#buf.indexOf('\n'); i >= 0; i = this.#buf.indexOf('\n')) {
      const line = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 1);
      this.#onLine(line);
    }
  }

  #onLine(line: string): void {
    const p = this.#pending;
    const m = /^(\d{4})([ -])(.*)$/.exec(line);
    if (!m) {
      // Continuation: a leading space, no code.
      p?.lines.push({ code: this.#lastCode, text: line.startsWith(' ') ? line.slice(1) : line });
      return;
    }
    const code = Number(m[1]);
    this.#lastCode = code;
    p?.lines.push({ code, text: m[3]! });
    if (m[2] === ' ') {
      this.#pending = undefined;
      p?.resolve({ lines: p.lines, code, text: m[3]! });
    }
  }
}
