// BirdControl against a scripted fake of BIRD's control socket (the real BIRD is exercised in
// test/bgp-frr.test.ts): framing, queueing, errors, timeouts and reconnects.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnreachableError } from '../util/errors.js';
import { BirdCommandError, BirdControl } from './bird-control.js';

type Script = (cmd: string, sock: Socket) => void;

let dir: string;
let server: Server | undefined;
let connections = 0;
const received: string[] = [];

async function fakeBird(script: Script): Promise<string> {
  const path = join(dir, 'bird.ctl');
  server = createServer((sock) => {
    connections++;
    sock.setEncoding('utf8');
    sock.write('0001 BIRD 2.0.12 ready.\n');
    let buf = '';
    sock.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const cmd = buf.slice(0, i);
        buf = buf.slice(i + 1);
        received.push(cmd);
        script(cmd, sock);
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server!.listen(path, r));
  return path;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podlb-birdctl-'));
  connections = 0;
  received.length = 0;
});

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const standard: Script = (cmd, sock) => {
  if (cmd.startsWith('configure check')) {
    const file = /"(.*)"/.exec(cmd)?.[1];
    if (file?.includes('bad')) sock.write(`0002-Reading configuration from ${file}\n8002 ${file}:4:3 syntax error, unexpected CF_SYM_UNDEFINED\n`);
    else sock.write(`0002-Reading configuration from ${file}\n0020 Configuration OK\n`);
  } else if (cmd === 'configure') sock.write('0002-Reading configuration from /x/bird.conf\n0003 Reconfigured\n');
  else if (cmd === 'show status') sock.write('1000-BIRD 2.0.12\n1011-Router ID is 10.0.0.1\n Hostname is vm\n0013 Daemon is up and running\n');
  else if (cmd === 'show protocols all')
    sock.write(
      '2002-Name       Proto      Table      State  Since         Info\n1002-p1         BGP        ---        up     10:00:00.000  Established   \n1006-  BGP state:          Established\n    Neighbor address: 172.31.0.1\n0000 \n',
    );
  else if (cmd === 'slow') setTimeout(() => sock.write('0000 late\n'), 50);
  else if (cmd === 'hang') {
    /* never answers */
  } else if (cmd === 'bye') sock.destroy();
  else sock.write('9001 syntax error, unexpected CF_SYM_UNDEFINED\n');
};

describe('BirdControl', () => {
  it('frames replies: coded lines, continuations, final line', async () => {
    const ctl = new BirdControl(await fakeBird(standard));
    const r = await ctl.command('show status');
    expect(r.code).toBe(13);
    expect(r.text).toBe('Daemon is up and running');
    expect(r.lines).toEqual([
      { code: 1000, text: 'BIRD 2.0.12' },
      { code: 1011, text: 'Router ID is 10.0.0.1' },
      { code: 1011, text: 'Hostname is vm' },
      { code: 13, text: 'Daemon is up and running' },
    ]);
    expect(r.durationMs).toBeGreaterThan(0);
    expect(ctl.lastRoundTripMs).toBe(r.durationMs);
    await ctl.close();
  });

  it('configureCheck and configure', async () => {
    const ctl = new BirdControl(await fakeBird(standard));
    expect((await ctl.configureCheck('/x/cand.conf')).code).toBe(20);
    expect(received).toContain('configure check "/x/cand.conf"');
    expect((await ctl.configure()).code).toBe(3);
    const err = await ctl.configureCheck('/x/bad.conf').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BirdCommandError);
    expect(err).toMatchObject({ birdCode: 8002, birdText: '/x/bad.conf:4:3 syntax error, unexpected CF_SYM_UNDEFINED' });
    await ctl.close();
  });

  it('refuses paths and commands that could inject', async () => {
    const ctl = new BirdControl(await fakeBird(standard));
    await expect(ctl.configureCheck('/x/a"; configure')).rejects.toThrow(/cannot be passed/);
    await expect(ctl.command('show status\nconfigure')).rejects.toThrow(/one line/);
    expect(received).toEqual([]);
    await ctl.close();
  });

  it('parse errors are BirdCommandError with the 9xxx code', async () => {
    const ctl = new BirdControl(await fakeBird(standard));
    await expect(ctl.command('foo')).rejects.toMatchObject({ birdCode: 9001, code: 'BIRD_COMMAND_FAILED' });
    // The connection stays usable.
    expect((await ctl.command('show status')).code).toBe(13);
    expect(connections).toBe(1);
    await ctl.close();
  });

  it('keeps one command in flight, answering in order', async () => {
    const ctl = new BirdControl(await fakeBird(standard));
    const [a, b, c] = await Promise.all([ctl.command('slow'), ctl.command('show status'), ctl.showProtocolsAll()]);
    expect(a.text).toBe('late');
    expect(b.code).toBe(13);
    expect(c).toMatchObject([{ name: 'p1', bgpState: 'Established', neighborAddress: '172.31.0.1' }]);
    expect(received).toEqual(['slow', 'show status', 'show protocols all']);
    await ctl.close();
  });

  it('times out, drops the connection and reconnects for the next command', async () => {
    const ctl = new BirdControl(await fakeBird(standard), { timeoutMs: 100 });
    await expect(ctl.command('hang')).rejects.toMatchObject({ code: 'BIRD_TIMEOUT', transient: true });
    expect((await ctl.command('show status')).code).toBe(13);
    expect(connections).toBe(2);
    await ctl.close();
  });

  it('reconnects after BIRD closes the socket', async () => {
    const ctl = new BirdControl(await fakeBird(standard));
    await expect(ctl.command('bye')).rejects.toBeInstanceOf(UnreachableError);
    expect((await ctl.command('show status')).code).toBe(13);
    await ctl.close();
  });

  it('a missing socket is UnreachableError BIRD_UNREACHABLE', async () => {
    const ctl = new BirdControl(join(dir, 'nope.ctl'));
    const err = await ctl.command('show status').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err).toMatchObject({ code: 'BIRD_UNREACHABLE', transient: true });
    expect((err as Error).message).toMatch(/ENOENT/);
    await ctl.close();
  });
});
