// Captures the real HAProxy replies that the parser tests in src/lb use as fixtures
// (src/lb/haproxy-fixtures/). Skipped unless UPDATE_FIXTURES=1:
//   UPDATE_FIXTURES=1 npx vitest run test/haproxy-capture-fixtures.test.ts
import net from 'node:net';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'vitest';
import { NetnsSandbox, waitFor } from '../src/lab/netns.js';
import { startHaproxy } from '../src/lab/haproxy-process.js';
import { HaproxyRuntime } from '../src/lb/haproxy-runtime.js';
import { parseServersState } from '../src/lb/haproxy-servers-state.js';
import { startPod } from '../testkit/haproxy-pods.js';

const OUT = join(import.meta.dirname, '../src/lb/haproxy-fixtures');

/** The raw byte stream of an interactive session, prompts included. */
async function rawPrompt(path: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path });
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (buf += d));
    s.on('error', reject);
    s.on('connect', () => s.write(`prompt\n${line}\nquit\n`));
    s.on('close', () => resolve(buf));
  });
}

it.runIf(process.env.UPDATE_FIXTURES === '1')('captures show servers state fixtures from haproxy 2.6', async () => {
  const sb = new NetnsSandbox();
  try {
    const dir = sb.tempDir('hacap');
    const hp = await startHaproxy(sb, null, {
      dir,
      backends: [{ name: 'web', httpCheckPath: '/healthz' }, { name: 'tcp' }, { name: 'empty' }],
    });
    const rt = new HaproxyRuntime(hp.runtimeAddress);
    const ok = await startPod('ok');
    const bad = await startPod('bad');
    bad.setHealthy(false);
    const flappy = await startPod('flappy');
    const closedPort = ok.port === 1 ? 2 : 1; // nothing listens on 127.0.0.1:1
    const P = 'podlb_node-a_';
    const safe = (be: string, name: string, port: number, chk: string): string[] => [
      `add server ${be}/${name} 127.0.0.1:${port} check ${chk}`,
      `enable health ${be}/${name}`,
      `enable server ${be}/${name}`,
      `set server ${be}/${name} health down`,
    ];
    const lines = [
      [`add server web/${P}maint 127.0.0.1:${ok.port} check inter 10s`],
      safe('web', `${P}pending`, ok.port, 'inter 10s rise 2 fall 3'),
      [`add server web/${P}unsafe 127.0.0.1:${ok.port} check inter 10s`, `enable health web/${P}unsafe`, `enable server web/${P}unsafe`],
      [`add server web/${P}unchecked 127.0.0.1:${ok.port}`, `enable server web/${P}unchecked`],
      safe('web', `${P}healthy`, ok.port, 'inter 100 rise 2 fall 3'),
      safe('web', `${P}rising`, ok.port, 'inter 100 rise 1000 fall 3'),
      safe('web', `${P}down`, bad.port, 'inter 100 rise 1 fall 1'),
      safe('web', `${P}l4con`, closedPort, 'inter 100 rise 1 fall 1'),
      safe('web', `${P}goingdown`, flappy.port, 'inter 100 rise 1 fall 1000'),
      safe('web', `${P}drain`, ok.port, 'inter 100 rise 1 fall 3'),
      safe('web', `podlb_node-b_other`, ok.port, 'inter 100 rise 1 fall 3'),
      safe('tcp', `${P}l4ok`, ok.port, 'inter 100 rise 1 fall 3'),
    ];
    for (const l of lines) await rt.pipeline(l, { oneLine: true });
    await waitFor('healthy and going-up servers', async () => {
      const rows = parseServersState(await rt.command('show servers state web'))!;
      const up = rows.find((r) => r.name === `${P}goingdown`)?.opState === 2 && rows.find((r) => r.name === `${P}healthy`)?.opState === 2;
      return up ? true : undefined;
    });
    flappy.setHealthy(false);
    await rt.command(`set server web/${P}drain state drain`);
    await new Promise((r) => setTimeout(r, 400));
    mkdirSync(OUT, { recursive: true });
    // Both views of the same moment: the unit tests check that they give the same answers.
    const [state, stat] = await rt.pipeline(['show servers state web', 'show stat web 4 -1']);
    writeFileSync(join(OUT, 'servers-state-web.txt'), state!);
    writeFileSync(join(OUT, 'stat-web.txt'), stat!);
    writeFileSync(join(OUT, 'stat-missing.txt'), await rt.command('show stat nope 4 1'));
    writeFileSync(join(OUT, 'info.txt'), await rt.command('show info'));
    writeFileSync(join(OUT, 'servers-state-tcp.txt'), await rt.command('show servers state tcp'));
    writeFileSync(join(OUT, 'servers-state-empty.txt'), await rt.command('show servers state empty'));
    writeFileSync(join(OUT, 'servers-state-missing.txt'), await rt.command('show servers state nope'));
    writeFileSync(
      join(OUT, 'prompt-stream.txt'),
      await rawPrompt(
        join(dir, 'admin.sock'),
        'show servers state tcp; set server tcp/x state drain; add server tcp/a 127.0.0.1:1; enable server tcp/a; del server tcp/a; disable server tcp/a; del server tcp/a; show servers state nope',
      ),
    );
    await rt.close();
    await Promise.all([ok.close(), bad.close(), flappy.close()]);
    await hp.stop();
  } finally {
    await sb.cleanup();
  }
});
