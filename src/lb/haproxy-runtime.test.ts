import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UnreachableError } from '../util/errors.js';
import { batchLines, HaproxyRuntime, parseRuntimeAddress, splitPromptReplies } from './haproxy-runtime.js';

describe('splitPromptReplies', () => {
  it('splits a captured interactive HAProxy 2.6 stream into one reply per command', () => {
    // `prompt`, then: show servers state tcp; set server tcp/x state drain; add server tcp/a …;
    // enable server tcp/a; del server tcp/a; disable server tcp/a; del server tcp/a; show servers state nope
    const stream = readFileSync(join(import.meta.dirname, 'haproxy-fixtures', 'prompt-stream.txt'), 'utf8');
    const { replies, rest } = splitPromptReplies(stream);
    expect(rest).toBe('');
    expect(replies.map((r) => r.trim())).toEqual([
      '', // prompt
      expect.stringMatching(/^1\n# be_id be_name .*\n3 tcp 1 podlb_node-a_l4ok /s),
      'No such server.',
      'New server registered.',
      '',
      'Only servers in maintenance mode can be deleted.',
      '',
      'Server deleted.',
      "Can't find backend.",
    ]);
  });

  it('keeps an incomplete tail', () => {
    expect(splitPromptReplies('a\n> b\n')).toEqual({ replies: ['a'], rest: 'b\n' });
  });
});

describe('parseRuntimeAddress', () => {
  it.each([
    ['unix:///run/haproxy/admin.sock', { kind: 'unix', path: '/run/haproxy/admin.sock' }],
    ['tcp://198.51.100.11:9999', { kind: 'tcp', host: '198.51.100.11', port: 9999 }],
    ['tcp://[2001:db8::1]:9999', { kind: 'tcp', host: '2001:db8::1', port: 9999 }],
    ['tcp://lb1.example:9999', { kind: 'tcp', host: 'lb1.example', port: 9999 }],
  ])('%s', (addr, want) => expect(parseRuntimeAddress(addr)).toEqual(want));

  it.each(['unix://relative.sock', 'tcp://host', 'tcp://host:0', 'tcp://host:70000', 'http://x:1', '/run/haproxy.sock'])('rejects %s', (addr) => {
    expect(() => parseRuntimeAddress(addr)).toThrow(/want unix:\/\/\/path or tcp:\/\/host:port/);
  });
});

describe('batchLines', () => {
  it('joins commands with ";" and splits long batches at command boundaries', () => {
    expect(batchLines(['a', 'b'], false)).toEqual(['a; b']);
    const long = Array.from({ length: 600 }, (_, i) => `show servers state backend_${i}`);
    const lines = batchLines(long, false);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.join('; ')).toBe(long.join('; '));
    expect(() => batchLines(long, true)).toThrow(/one line/);
  });

  it.each(['', 'a; b', 'a\nb', 'a;b'])('rejects %j', (cmd) => expect(() => batchLines([cmd], false)).toThrow(/single HAProxy runtime command/));
});

// A fake runtime socket: interactive mode, replies chosen per test.
describe('HaproxyRuntime against a fake socket', () => {
  let dir = '';
  let server: net.Server | null = null;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function fake(onLine: (line: string, s: net.Socket) => void): Promise<string> {
    dir = mkdtempSync(join(tmpdir(), 'podlb-hart-'));
    const path = join(dir, 'admin.sock');
    server = net.createServer((s) => {
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          onLine(line, s);
        }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server!.listen(path, () => r()));
    return `unix://${path}`;
  }

  const echo = (line: string, s: net.Socket): void => {
    for (const cmd of line.split(';').map((c) => c.trim())) s.write(cmd === 'prompt' ? '\n> ' : `did ${cmd}\n\n> `);
  };

  it('pipelines a batch in one round trip and keeps the connection', async () => {
    const rt = new HaproxyRuntime(await fake(echo));
    expect(await rt.pipeline(['a', 'b', 'c'])).toEqual(['did a\n', 'did b\n', 'did c\n']);
    expect(await rt.command('d')).toBe('did d\n');
    expect(rt.roundTrips).toBe(2);
    expect(rt.connects).toBe(1);
    await rt.close();
  });

  it('a silent server → UnreachableError after the timeout, and the next call reconnects', async () => {
    let silent = true;
    const rt = new HaproxyRuntime(await fake((l, s) => (silent && l !== 'prompt' ? undefined : echo(l, s))), { timeoutMs: 100 });
    const err = await rt.command('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err).toMatchObject({ code: 'HAPROXY_UNREACHABLE', transient: true, message: expect.stringMatching(/did not answer within 100 ms/) });
    silent = false;
    expect(await rt.command('y')).toBe('did y\n');
    expect(rt.connects).toBe(2);
    await rt.close();
  });

  it('a connection closed mid-reply → UnreachableError', async () => {
    const rt = new HaproxyRuntime(await fake((l, s) => (l === 'prompt' ? s.write('\n> ') : s.end('partial'))));
    await expect(rt.command('x')).rejects.toMatchObject({ code: 'HAPROXY_UNREACHABLE', message: expect.stringMatching(/closed the connection/) });
    await rt.close();
  });

  it('an absent socket → UnreachableError naming the address', async () => {
    const rt = new HaproxyRuntime('unix:///nonexistent/podlb/admin.sock');
    await expect(rt.command('show info')).rejects.toMatchObject({
      name: 'UnreachableError',
      code: 'HAPROXY_UNREACHABLE',
      message: expect.stringMatching(/nonexistent.*ENOENT/),
    });
  });

  it('an idle connection older than idleReuseMs is replaced before use', async () => {
    let t = 0;
    const rt = new HaproxyRuntime(await fake(echo), { idleReuseMs: 1000, now: () => t });
    await rt.command('a');
    t = 500;
    await rt.command('b');
    t = 2000;
    await rt.command('c');
    expect(rt.connects).toBe(2);
    await rt.close();
  });
});
