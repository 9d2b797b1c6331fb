// A small BIRD 2 config tokenizer and structure parser for tests: comments dropped, strings
// kept as one token, every statement a token list, every block a statement with children.
// The fuzz tests compare the structure of a rendered bird.conf with one built from the model,
// so anything that is not derived from the model shows up as a difference, wherever it hides.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BirdCommandError, type BirdControl, type BirdReply } from '../src/bgp/bird-control.js';
import { routeCommunities, type BirdModel } from '../src/bgp/model.js';

export interface Stmt {
  /** Tokens before `;` or `{`, joined by one space. */
  head: string;
  /** Present for blocks (`head { ... }`), sorted by head. */
  body?: Stmt[];
}

export class BirdSyntaxError extends Error {}

export function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new BirdSyntaxError('unterminated comment');
      i = end + 2;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new BirdSyntaxError('unterminated string');
      const s = text.slice(i, end + 1);
      if (s.includes('\n')) throw new BirdSyntaxError('newline in string');
      out.push(s);
      i = end + 1;
    } else if ('{}[]();,=~'.includes(c)) {
      out.push(c);
      i++;
    } else if (/[A-Za-z0-9_.:/]/.test(c)) {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_.:/]/.test(text[j]!)) j++;
      out.push(text.slice(i, j));
      i = j;
    } else {
      throw new BirdSyntaxError(`unexpected character ${JSON.stringify(c)} at ${i}`);
    }
  }
  return out;
}

function sortStmts(list: Stmt[]): Stmt[] {
  const key = (s: Stmt) => `${s.head}\u0000${JSON.stringify(s.body ?? null)}`;
  return list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Statements of a config; bracketed sets stay inside their statement's head. */
export function parseStructure(text: string): Stmt[] {
  const toks = tokenize(text);
  let i = 0;
  const block = (top: boolean): Stmt[] => {
    const out: Stmt[] = [];
    let head: string[] = [];
    let brackets = 0;
    while (i < toks.length) {
      const t = toks[i++]!;
      if (t === '[' || t === '(') brackets++;
      if (t === ']' || t === ')') brackets--;
      if (brackets > 0 || t === '[' || t === ']' || t === '(' || t === ')') {
        head.push(t);
        continue;
      }
      if (t === ';') {
        if (head.length > 0) out.push({ head: head.join(' ') });
        head = [];
      } else if (t === '{') {
        const body = block(false);
        out.push({ head: head.join(' '), body });
        head = [];
      } else if (t === '}') {
        if (top) throw new BirdSyntaxError('unbalanced }');
        if (head.length > 0) out.push({ head: head.join(' ') });
        return sortStmts(out);
      } else head.push(t);
    }
    if (!top) throw new BirdSyntaxError('unterminated block');
    if (head.length > 0) throw new BirdSyntaxError(`statement without ; at the end: ${head.join(' ')}`);
    return sortStmts(out);
  };
  return block(true);
}

const FAMILIES = [
  { key: 'v4', exportKey: 'exportV4', max: 32, channel: 'ipv4', set: 'PODLB_V4', stat: 'podlb_static_v4', filter: 'podlb_export_v4' },
  { key: 'v6', exportKey: 'exportV6', max: 128, channel: 'ipv6', set: 'PODLB_V6', stat: 'podlb_static_v6', filter: 'podlb_export_v6' },
] as const;

/**
 * The config a model stands for, written out independently of bird-templates/ (plain string
 * building), to be compared structurally with the rendered text.
 */
export function expectedConfig(m: BirdModel, opts: { password?: (p: string) => string } = {}): string {
  const l: string[] = [];
  if (m.routerId !== undefined) l.push(`router id ${m.routerId};`);
  l.push('timeformat protocol iso long ms;');
  l.push('protocol device podlb_device { scan time 10; }');
  if (m.peers.some((p) => p.bfd)) l.push('protocol bfd podlb_bfd { }');
  const communitiesOf = routeCommunities(m);
  for (const f of FAMILIES) {
    const set = m[f.exportKey].map((e) => (e.hostRoutes ? `${e.prefix}{${f.max},${f.max}}` : e.prefix));
    if (set.length > 0) l.push(`define ${f.set} = [ ${set.join(', ')} ];`);
    const route = (p: string): string => {
      const comms = (communitiesOf.get(p) ?? []).map(([asn, value]) => `bgp_community.add((${asn}, ${value}));`);
      return comms.length > 0 ? `route ${p} blackhole { ${comms.join(' ')} };` : `route ${p} blackhole;`;
    };
    l.push(`protocol static ${f.stat} { ${f.channel}; ${m[f.key].map(route).join(' ')} }`);
    l.push(`filter ${f.filter} { ${set.length > 0 ? `if net ~ ${f.set} then accept;` : ''} reject; }`);
  }
  for (const p of m.peers) {
    const f = FAMILIES[p.family === 4 ? 0 : 1];
    const s = [`local as ${p.localAsn};`, `neighbor ${p.address} as ${p.peerAsn};`];
    if (p.sourceAddress) s.push(`source address ${p.sourceAddress};`);
    if (p.multihop) s.push(`multihop ${p.multihop};`);
    s.push(`hold time ${p.holdTime};`);
    if (p.keepaliveTime) s.push(`keepalive time ${p.keepaliveTime};`);
    s.push(`graceful restart ${p.gracefulRestart.enabled ? 'on' : 'off'};`);
    if (p.gracefulRestart.enabled && p.gracefulRestart.restartTime) s.push(`graceful restart time ${p.gracefulRestart.restartTime};`);
    if (p.password !== undefined) s.push(`password "${opts.password ? opts.password(p.password) : p.password}";`);
    if (p.bfd) s.push('bfd on;', `bfd { min rx interval ${p.bfd.intervalMs} ms; min tx interval ${p.bfd.intervalMs} ms; multiplier ${p.bfd.multiplier}; };`);
    s.push(`${f.channel} { import none; export filter ${f.filter}; };`);
    l.push(`protocol bgp ${p.protocol} { ${s.join(' ')} }`);
  }
  return l.join('\n');
}

/** Runs `bird -p -c FILE` on each text, `concurrency` at a time; resolves with '' (accepted) or BIRD's message per text. */
export async function birdParse(texts: readonly string[], concurrency = 3): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'podlb-birdp-'));
  try {
    const results: string[] = new Array<string>(texts.length);
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= texts.length) return;
        const file = join(dir, `c${i}.conf`);
        writeFileSync(file, texts[i]!);
        results[i] = await new Promise<string>((resolve) => {
          execFile('bird', ['-p', '-c', file], { timeout: 20_000 }, (err, _out, stderr) =>
            resolve(err ? `${stderr || err.message}`.trim() || 'bird -p failed' : ''),
          );
        });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A BirdControl whose `configure check` is the real `bird -p` on the candidate (BIRD's own
 * parser and protocol checks, the same code a running BIRD's `configure check` runs) and whose
 * `configure` takes what passed: for tests of what the agent applies without a running BIRD.
 * Refusals come back as a running BIRD answers them (8002 `file:line:col message`).
 */
export function birdParseControl(): BirdControl & { checks: number } {
  const control = {
    checks: 0,
    async configureCheck(file: string): Promise<BirdReply> {
      control.checks += 1;
      const err = await new Promise<string>((resolve) => {
        execFile('bird', ['-p', '-c', file], { timeout: 20_000 }, (e, _out, stderr) =>
          resolve(e ? `${stderr || e.message}`.trim().replace(/^bird: /, '') || 'bird -p failed' : ''),
        );
      });
      if (err) throw new BirdCommandError(`configure check "${file}"`, 8002, err);
      return { code: 20, text: 'Configuration OK', lines: [{ code: 20, text: 'Configuration OK' }], durationMs: 0 };
    },
    async configure(): Promise<BirdReply> {
      return { code: 3, text: 'Reconfigured', lines: [{ code: 3, text: 'Reconfigured' }], durationMs: 0 };
    },
  };
  return control as unknown as BirdControl & { checks: number };
}
