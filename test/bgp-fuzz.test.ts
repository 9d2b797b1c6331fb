// Security fuzz of the BIRD renderer. A seeded generator builds Nodes, pools, peers,
// Secrets, Pod IPs and gateways whose every string and number may carry BIRD syntax, quotes,
// braces, semicolons, newlines, comments, `include`, unicode, NUL, over-long values, huge,
// negative and fractional numbers or the wrong type. For every case:
//   - planning never throws; every problem names an object, a field and a reason, and no
//     problem ever echoes a Secret value;
//   - the rendered text is accepted by the real `bird -p`;
//   - its structure (statements, protocol names, prefixes, addresses, ASNs, passwords) equals
//     the one written independently from the model (testkit/bird-structure.ts), and the
//     model holds only values that parse from the input (prefixes inside approved pools and
//     podCIDRs / Pod IPs, peer addresses from peers or the gateway, passwords from Secrets).
// The same properties hold end to end for `podlb render bird` (YAML in, stdout out).
// Blast radius: one random invalid BGPPeer, PodAddressPool or password Secret among N valid
// ones, through the agent's BIRD reconciler with `bird -p` as configure check: a change of the
// valid ones (a pool rejected, a Pod gone, a peer added or removed) is applied in the next run,
// and only the invalid object is reported.
// PODLB_FUZZ_SEED=<n> PODLB_FUZZ_CASES=<n> reproduce or widen a run; failures print the seed and case.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { checkApproval, contentDigests } from '../src/bgp/approval.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import type { BGPPeer, Node, Pod, PodAddressPool, Secret, Service } from '../src/api/types.js';
import { birdParse, birdParseControl, expectedConfig, parseStructure } from '../testkit/bird-structure.js';
import { parsePool, isUsablePool } from '../src/bgp/config.js';
import { parsePeer } from '../src/bgp/peer-config.js';
import { approved } from '../testkit/bgp-fixtures.js';
import { BirdConfigReconciler } from '../src/agent/bird-config.js';
import { AgentMetrics } from '../src/agent/metrics.js';
import type { AgentSnapshot } from '../src/agent/snapshot.js';
import { pino } from 'pino';
import { readFileSync } from 'node:fs';
import { parseIp, parsePrefix, prefixInside, type IpPrefix } from '../src/net/ip.js';
import { buildBgpPlan, BIRD_SYMBOL, type BgpPlanInput, type BirdModel, type PodIPs } from '../src/bgp/model.js';
import { podIPsForNode } from '../src/bgp/pod-ips.js';
import { REDACTED_PASSWORD, renderBirdConf } from '../src/bgp/render.js';
import { runRenderBird } from '../src/cli/render-bird.js';
import { agentSnapshot } from '../testkit/agent-snapshot.js';

const SEED = Number(process.env.PODLB_FUZZ_SEED ?? 20261122);
const CASES = Number(process.env.PODLB_FUZZ_CASES ?? 3000);
const CLI_CASES = Number(process.env.PODLB_FUZZ_CLI_CASES ?? 300);
const BLAST_CASES = Number(process.env.PODLB_FUZZ_BLAST_CASES ?? 60);

/** mulberry32: small, fast, deterministic. One stream per case: (seed, case) reproduces it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  /** Hostility: scales every "hostile instead of valid" probability (0 = all valid). */
  h = 1;
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

// Things an attacker or a typo could put into any string field.
const HOSTILE_STRINGS = [
  '"; include "/etc/passwd"; #',
  '}\nprotocol bgp evil { local as 1; neighbor 6.6.6.6 as 2; ipv4 { export all; }; }\n',
  'x; router id 6.6.6.6;',
  '/* ',
  '*/',
  '# comment',
  '10.244.0.0/16 ]; define X = [ 0.0.0.0/0',
  '0.0.0.0/0',
  '::/0',
  '10.244.1.0/24;',
  '10.244.1.0/24\n',
  ' 10.244.1.0/24',
  '10.244.1.0/24 ',
  '10.244.001.0/24',
  '10.244.1.0/024',
  '10.244.1.0/-1',
  '10.244.1.5/24',
  '1.2.3.4 as 1; export all',
  '::ffff:10.244.1.1',
  '10.244.1.1%eth0',
  'fe80::1%eth0',
  '{{password}}',
  '{{#each peers}}x{{/each}}',
  '\\"',
  "'",
  '`id`',
  '$(reboot)',
  'a\u0000b',
  '\u0000',
  'naïve-ü',
  '\u202etor',
  '🐦',
  'x'.repeat(300),
  'y'.repeat(70_000),
  '',
  ' ',
  '\r\n',
  'include "/etc/shadow";',
  'Gateway',
  'gateway',
  'NodeCIDR',
  'PodIPs',
  'Approved',
  '65000:100',
  '65536:1',
  '1:1)); accept; #',
  'true',
  '-1',
  '1e9',
];
const HOSTILE_NUMBERS = [
  0,
  -1,
  -0,
  1.5,
  0.1,
  1e300,
  -1e300,
  2 ** 31,
  2 ** 32,
  2 ** 32 - 1,
  2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER,
  Infinity,
  -Infinity,
  NaN,
  65535,
  65536,
  256,
  4095,
  4096,
  60001,
];
const WRONG_TYPES: unknown[] = [null, true, false, [], {}, [1, 2], { a: 1 }, ['10.244.0.0/16'], { toString: 'x' }];

function hostile(g: Gen): unknown {
  const k = g.int(10);
  if (k < 6) return g.pick(HOSTILE_STRINGS);
  if (k < 8) return g.pick(HOSTILE_NUMBERS);
  return g.pick(WRONG_TYPES);
}

/** A valid value most of the time, a hostile one otherwise. */
function field<T>(g: Gen, valid: () => T, p = 0.15): unknown {
  return g.chance(p * g.h) ? hostile(g) : valid();
}

const V4_POOLS = ['10.244.0.0/16', '10.244.0.0/20', '10.244.1.0/24', '10.244.1.128/25', '10.250.0.0/16', '10.96.0.0/12', '10.244.0.0/16'];
const V6_POOLS = ['fd00:244::/56', 'fd00:244:0:1::/64', 'FD00:250::/48', 'fd00:250::/48'];
const POD_CIDRS = ['10.244.1.0/24', '10.244.2.0/24', '10.244.0.0/16', 'fd00:244:0:1::/64', '10.250.0.0/24'];
const PEER_ADDRS = ['172.31.0.1', '172.31.0.9', '198.51.100.1', 'fd00:31::1', 'FD00:31:0::9', 'Gateway', '192.0.2.10'];
const LABEL_VALUES = ['true', 'r12', 'r13', ''];
const NAMES = ['tor', 'rack-r12-tor', 'a', 'b.c', 'pool-1', 'x'.repeat(63), 'UPPER', 'tokyo-pods'];

function genName(g: Gen): unknown {
  return field(g, () => g.pick(NAMES), 0.25);
}

function genSelector(g: Gen): unknown {
  if (g.chance(0.1)) return hostile(g);
  if (g.chance(0.3)) return undefined;
  if (g.chance(0.2))
    return {
      matchExpressions: [
        {
          key: field(g, () => 'topology.kubernetes.io/rack'),
          operator: field(g, () => g.pick(['In', 'NotIn', 'Exists'])),
          values: [field(g, () => g.pick(LABEL_VALUES))],
        },
      ],
    };
  if (g.chance(0.7))
    return { matchLabels: g.pick([{ 'podlb.io/bgp': 'true' }, { 'topology.kubernetes.io/rack': 'r12' }, { 'podlb.io/bgp': field(g, () => 'true') }]) };
  return {
    matchLabels: {
      [g.chance(0.9) ? g.pick(['podlb.io/bgp', 'topology.kubernetes.io/rack']) : String(g.pick(HOSTILE_STRINGS))]: field(g, () => g.pick(LABEL_VALUES)),
    },
  };
}

function genPool(g: Gen): PodAddressPool {
  const cidrs = Array.from({ length: 1 + g.int(3) }, () => field(g, () => (g.chance(0.7) ? g.pick(V4_POOLS) : g.pick(V6_POOLS)), 0.1));
  const spec: Record<string, unknown> = {
    cidrs: g.chance(0.05) ? hostile(g) : cidrs,
    advertise: field(g, () => g.pick(['NodeCIDR', 'PodIPs', 'NodeCIDR']), 0.1),
    nodeSelector: genSelector(g),
    approval: g.chance(0.1) ? hostile(g) : { state: field(g, () => g.pick(['Approved', 'Approved', 'Approved', 'Pending', 'Rejected']), 0.1), by: hostile(g) },
  };
  if (g.chance(0.4))
    spec.communities = g.chance(0.1) ? hostile(g) : Array.from({ length: 1 + g.int(2) }, () => field(g, () => `${g.int(65536)}:${g.int(65536)}`, 0.2));
  // Most approvals record the digests of the content; the others are stale (edited after approval, or approved before digests).
  const approval = spec.approval as Record<string, unknown> | undefined;
  if (approval && typeof approval === 'object' && !Array.isArray(approval) && g.chance(0.85)) Object.assign(approval, contentDigests(spec));
  return {
    apiVersion: 'podlb.io/v1alpha1',
    kind: 'PodAddressPool',
    metadata: { name: genName(g) as string, annotations: { note: hostile(g) as string } },
    spec: spec as unknown as PodAddressPool['spec'],
  };
}

function genPeer(g: Gen, i: number): BGPPeer {
  const spec: Record<string, unknown> = {
    peerAddress: field(g, () => g.pick(PEER_ADDRS), 0.15),
    peerASN: field(g, () => g.pick([65000, 64512, 4200000001, 1, 4294967295])),
    localASN: field(g, () => g.pick([64512, 65001, 4200000001])),
  };
  if (g.chance(0.7)) spec.nodeSelector = genSelector(g);
  if (g.chance(0.5)) spec.holdTimeSeconds = field(g, () => g.pick([0, 3, 9, 90, 65535]));
  if (g.chance(0.5)) spec.keepaliveSeconds = field(g, () => g.pick([1, 3, 30]));
  if (g.chance(0.4))
    spec.passwordSecretRef = g.chance(0.1)
      ? hostile(g)
      : {
          namespace: field(g, () => g.pick(['podlb-system', 'podlb-system', 'net']), 0.1),
          name: field(g, () => 'md5', 0.1),
          key: field(g, () => g.pick(['password', 'password', 'other']), 0.1),
        };
  if (g.chance(0.4))
    spec.bfd = g.chance(0.1)
      ? hostile(g)
      : {
          enabled: field(g, () => g.chance(0.8), 0.1),
          minIntervalMilliseconds: field(g, () => g.pick([1, 50, 300, 60000]), 0.2),
          multiplier: field(g, () => g.pick([1, 3, 255]), 0.2),
        };
  if (g.chance(0.4))
    spec.gracefulRestart = g.chance(0.1)
      ? hostile(g)
      : { enabled: field(g, () => g.chance(0.7), 0.1), restartTimeSeconds: field(g, () => g.pick([1, 120, 4095]), 0.2) };
  if (g.chance(0.3)) spec.ebgpMultihop = field(g, () => g.pick([1, 2, 255]));
  if (g.chance(0.3)) spec.sourceAddress = field(g, () => g.pick(['172.31.0.2', 'fd00:31::2', '10.0.0.1']));
  const name = g.chance(0.7) ? `${String(g.pick(NAMES))}-${i}` : genName(g);
  return {
    apiVersion: 'podlb.io/v1alpha1',
    kind: 'BGPPeer',
    metadata: { name: name as string, labels: { x: hostile(g) as string } },
    spec: spec as unknown as BGPPeer['spec'],
  };
}

const PASSWORDS = [
  'Md5-s3cret!',
  'Md5-s3cret!',
  '}{;#',
  "'single'",
  '/*x*/',
  '#',
  'x'.repeat(70),
  'x'.repeat(81),
  'pw with spaces',
  'ab"; include "/etc/passwd',
  'a\\b',
  'a\nb',
  'a\u0000b',
  'pässword',
  '',
  '}{;#',
  "'single'",
  '/*x*/',
];

function genSecrets(g: Gen): Secret[] {
  const out: Secret[] = [];
  for (let i = 0, n = g.int(4); i < n; i++) {
    // A unique marker in front, so "a Secret value is echoed" cannot be a coincidence.
    const h = hostile(g);
    const raw = g.chance(0.8) ? g.pick(PASSWORDS) : typeof h === 'string' ? h : (JSON.stringify(h) ?? 'undefined');
    const value = g.chance(0.9) ? `q${g.int(1e9)}z${raw}` : raw;
    const key = g.pick(['password', 'password', 'other']);
    const meta = { name: g.chance(0.9) ? 'md5' : (genName(g) as string), namespace: g.pick(['podlb-system', 'podlb-system', 'net', 'default']) };
    if (g.chance(0.2)) out.push({ metadata: meta, stringData: { [key]: value } });
    else if (g.chance(0.1)) out.push({ metadata: meta, data: { [key]: hostile(g) as string } });
    else out.push({ metadata: meta, data: { [key]: Buffer.from(value).toString('base64') } });
  }
  return out;
}

function genNode(g: Gen): Node {
  const labels: Record<string, unknown> = {
    'podlb.io/bgp': field(g, () => 'true', 0.1),
    'topology.kubernetes.io/rack': field(g, () => g.pick(['r12', 'r12', 'r13']), 0.1),
  };
  if (g.chance(0.2)) labels[String(g.pick(HOSTILE_STRINGS))] = hostile(g);
  const podCIDRs = g.chance(0.05) ? hostile(g) : Array.from({ length: g.int(3) }, () => field(g, () => g.pick(POD_CIDRS), 0.1));
  const addresses = g.chance(0.05)
    ? hostile(g)
    : [{ type: field(g, () => 'InternalIP', 0.05), address: field(g, () => g.pick(['172.31.0.2', '172.31.0.2', '10.0.0.5', 'fd00:31::2']), 0.1) }];
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-a', labels: labels as Record<string, string> },
    spec: { podCIDRs: podCIDRs as string[] },
    status: { addresses: addresses as { type: string; address: string }[] },
  };
}

function genPodIPs(g: Gen): PodIPs[] | undefined {
  if (g.chance(0.2)) return undefined;
  return Array.from({ length: g.int(6) }, (_, i) => ({
    namespace: (g.chance(0.9) ? 'ads' : hostile(g)) as string,
    name: (g.chance(0.9) ? `p${i}` : hostile(g)) as string,
    ips: (g.chance(0.05)
      ? hostile(g)
      : Array.from({ length: 1 + g.int(2) }, () =>
          field(g, () => g.pick([`10.250.0.${g.int(256)}`, `10.244.1.${g.int(256)}`, `fd00:250::${g.int(65536).toString(16)}`, '10.99.0.1']), 0.2),
        )) as string[],
  }));
}

function genInput(seed: number, index: number, hostility?: number): BgpPlanInput {
  const g = new Gen(rng(seed ^ Math.imul(index + 1, 0x9e3779b1)));
  g.h = hostility ?? g.pick([0, 0.3, 1, 1, 2]);
  const input: BgpPlanInput = {
    node: genNode(g),
    pools: Array.from({ length: g.int(5) }, () => genPool(g)),
    peers: Array.from({ length: g.int(5) }, (_, i) => genPeer(g, i)),
    secrets: genSecrets(g),
  };
  const podIPs = genPodIPs(g);
  if (podIPs) input.podIPs = podIPs;
  if (g.chance(0.7))
    input.defaultGateway = g.chance(0.15)
      ? (hostile(g) as never)
      : {
          ...(g.chance(0.8) ? { v4: field(g, () => '172.31.0.1', 0.2) as string } : {}),
          ...(g.chance(0.4) ? { v6: field(g, () => g.pick(['fd00:31::1', 'fe80::1']), 0.2) as string } : {}),
        };
  return input;
}

// ---- what the model may contain, derived from the raw input by the test itself ----

function secretValues(input: BgpPlanInput): string[] {
  const out: string[] = [];
  for (const s of input.secrets) {
    for (const v of Object.values(s.data ?? {})) if (typeof v === 'string') out.push(Buffer.from(v, 'base64').toString('latin1'));
    for (const v of Object.values(s.stringData ?? {})) if (typeof v === 'string') out.push(v);
  }
  return out;
}

function parsedPrefixes(raw: unknown): IpPrefix[] {
  return (Array.isArray(raw) ? raw : []).flatMap((c: unknown) => {
    const r = parsePrefix(c);
    return r.ok ? [r.prefix] : [];
  });
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`violated: ${what}`);
}

/** Every value in the model traces back to a value of the input that parses. */
function checkModelDerived(input: BgpPlanInput, m: BirdModel): void {
  const approved = input.pools.filter(
    (p) => (p.spec as { approval?: { state?: unknown } } | undefined)?.approval?.state === 'Approved' && checkApproval(p.spec).ok,
  );
  const poolCidrs = approved.flatMap((p) => parsedPrefixes((p.spec as { cidrs?: unknown }).cidrs));
  const podCidrs = parsedPrefixes((input.node.spec as { podCIDRs?: unknown })?.podCIDRs);
  const podIps = new Set<string | undefined>(
    (input.podIPs ?? [])
      .flatMap((p) => (Array.isArray(p.ips) ? p.ips : []))
      .map((ip) => parseIp(ip)?.text)
      .filter(Boolean),
  );
  for (const text of [...m.v4, ...m.v6]) {
    const r = parsePrefix(text);
    check(r.ok && r.prefix.text === text, `canonical prefix ${text}`);
    const p = (r as { prefix: IpPrefix }).prefix;
    check(
      poolCidrs.some((c) => prefixInside(p, c)),
      `${text} inside an approved pool`,
    );
    const host = p.length === (p.family === 4 ? 32 : 128) && podIps.has(text.split('/')[0]);
    check(host || podCidrs.some((c) => prefixInside(p, c) || prefixInside(c, p)), `${text} from a podCIDR or a Pod IP`);
  }
  const addrs = new Set(
    [
      ...input.peers.map((p) => parseIp((p.spec as { peerAddress?: unknown })?.peerAddress)?.text),
      parseIp(input.defaultGateway?.v4)?.text,
      parseIp(input.defaultGateway?.v6)?.text,
    ].filter(Boolean),
  );
  const asns = new Set(input.peers.flatMap((p) => [(p.spec as { peerASN?: unknown })?.peerASN, (p.spec as { localASN?: unknown })?.localASN]));
  const secrets = secretValues(input);
  if (m.routerId !== undefined) check(parseIp(m.routerId)?.text === m.routerId, 'canonical router id');
  for (const p of m.peers) {
    check(BIRD_SYMBOL.test(p.protocol), 'protocol name is a symbol');
    check(addrs.has(p.address), `peer address ${p.address} from the input`);
    check(asns.has(p.peerAsn) && asns.has(p.localAsn), 'ASNs from the input');
    if (p.password !== undefined) {
      check(secrets.includes(p.password), 'password from a Secret');
      check(/^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,80}$/.test(p.password), 'password charset');
    }
  }
}

function checkProblems(input: BgpPlanInput, problems: ReturnType<typeof buildBgpPlan>['problems']): void {
  const secrets = secretValues(input).filter((s) => /^q\d+z/.test(s));
  for (const p of problems) {
    check(typeof p.object.kind === 'string' && p.object.kind.length > 0, 'problem names an object kind');
    check(/^[a-zA-Z]/.test(p.field), `problem field ${p.field}`);
    check(/^[A-Z][A-Za-z]+$/.test(p.reason), `problem reason ${p.reason}`);
    check(p.severity === 'Warning' || p.severity === 'Normal', 'severity');
    check(typeof p.message === 'string' && p.message.length > 0, 'problem message');
    for (const s of secrets) check(!p.message.includes(s), `problem ${p.reason} echoes a Secret value`);
  }
}

interface Stats {
  cases: number;
  withPeers: number;
  withPrefixes: number;
  hostRoutes: number;
  withPassword: number;
  withBfd: number;
  problems: number;
  distinctTexts: number;
}

describe('renderer fuzz', () => {
  const dir = mkdtempSync(join(tmpdir(), 'podlb-fuzz-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`${CASES} generated object sets: refused with a clear problem or accepted by bird -p and derived from the model (seed ${SEED})`, async () => {
    const stats: Stats = { cases: CASES, withPeers: 0, withPrefixes: 0, hostRoutes: 0, withPassword: 0, withBfd: 0, problems: 0, distinctTexts: 0 };
    const texts = new Map<string, number>(); // text -> first case index
    const t0 = performance.now();
    for (let i = 0; i < CASES; i++) {
      const where = `seed ${SEED} case ${i} (PODLB_FUZZ_SEED=${SEED})`;
      try {
        const input = genInput(SEED, i);
        const plan = buildBgpPlan(input);
        checkProblems(input, plan.problems);
        checkModelDerived(input, plan.model);
        for (const redact of [false, true]) {
          const text = renderBirdConf(plan.model, { redactPasswords: redact });
          const got = parseStructure(text);
          const want = parseStructure(expectedConfig(plan.model, redact ? { password: () => REDACTED_PASSWORD } : {}));
          if (JSON.stringify(got) !== JSON.stringify(want)) expect(got).toEqual(want);
          if (!texts.has(text)) texts.set(text, i);
        }
        stats.problems += plan.problems.length;
        if (plan.model.peers.length > 0) stats.withPeers++;
        if (plan.model.v4.length + plan.model.v6.length > 0) stats.withPrefixes++;
        if (plan.advertised.some((a) => a.mode === 'PodIPs')) stats.hostRoutes++;
        if (plan.model.peers.some((p) => p.password)) stats.withPassword++;
        if (plan.model.peers.some((p) => p.bfd)) stats.withBfd++;
      } catch (err) {
        throw new Error(`${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    const planMs = performance.now() - t0;
    const unique = [...texts.entries()];
    stats.distinctTexts = unique.length;
    const t1 = performance.now();
    const results = await birdParse(
      unique.map(([t]) => t),
      3,
    );
    const refused = results.flatMap((r, k) => (r === '' ? [] : [`seed ${SEED} case ${unique[k]![1]}: bird -p: ${r}`]));
    console.log(
      `fuzz: ${JSON.stringify(stats)}; plan+render+structure ${planMs.toFixed(0)} ms, bird -p on ${unique.length} distinct configs ${(performance.now() - t1).toFixed(0)} ms`,
    );
    expect(refused.slice(0, 5)).toEqual([]);
    // The generator must exercise the accepting path, not only refusals.
    expect(stats.withPeers).toBeGreaterThan(CASES * 0.1);
    expect(stats.withPrefixes).toBeGreaterThan(CASES * 0.1);
    expect(stats.hostRoutes).toBeGreaterThan(CASES * 0.02);
    expect(stats.withPassword).toBeGreaterThan(CASES * 0.005);
    expect(stats.withBfd).toBeGreaterThan(CASES * 0.02);
    writeFileSync(join(dir, 'done'), '');
  }, 120_000);

  it(`podlb render bird end to end: ${CLI_CASES} YAML files in, stdout out (seed ${SEED})`, async () => {
    const accepted: { text: string; where: string; secrets: string[] }[] = [];
    let refusedCount = 0;
    for (let i = 0; i < CLI_CASES; i++) {
      const where = `seed ${SEED} cli case ${i}`;
      const input = genInput(SEED + 1, i, i % 3 === 0 ? 0.3 : 0.05);
      const g = new Gen(rng(SEED + i));
      // Pods and Services instead of podIPs: the CLI selects them like the agent does.
      const pods: Pod[] = (input.podIPs ?? []).map((p) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: p.name, namespace: p.namespace, labels: { app: 'bidder' } },
        spec: { nodeName: 'node-a', containers: [] },
        status: { phase: 'Running', podIPs: (Array.isArray(p.ips) ? p.ips : []).map((ip) => ({ ip })) },
      }));
      const svc: Service = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's', namespace: 'ads', annotations: { 'podlb.io/load-balancer': 'l7lb' } },
        spec: { selector: { app: 'bidder' } },
      };
      const objects: unknown[] = [
        input.node,
        ...input.pools,
        ...input.peers,
        ...input.secrets.map((s) => ({ apiVersion: 'v1', kind: 'Secret', ...s })),
        ...pods,
        svc,
      ];
      let yamlText = objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
      // Raw YAML hazards next to the objects: tags, anchors, a broken document, binary.
      if (g.chance(0.1))
        yamlText += g.pick([
          '---\nkind: BGPPeer\nmetadata: {name: x}\nspec: !!binary aGVsbG8=\n',
          '---\n&a [*a]\n',
          '---\nkind: Node\nmetadata: {name: "unterminated\n',
          '---\n!!js/function "x"\n',
          '---\n- - - -\n',
        ]);
      const file = join(dir, `cli-${i}.yaml`);
      writeFileSync(file, yamlText);
      let out = '';
      let errText = '';
      const sink = (f: (s: string) => void) =>
        new Writable({
          write: (c: Buffer | string, _e, cb) => {
            f(c.toString());
            cb();
          },
        });
      const usedGateway = g.chance(0.5);
      const code = await runRenderBird(
        { node: 'node-a', objectsFile: file, ...(usedGateway ? { defaultGateway: { v4: '172.31.0.1' } } : {}) },
        sink((s) => (out += s)),
        sink((s) => (errText += s)),
      );
      const secrets = secretValues(input).filter((s) => /^q\d+z/.test(s));
      expect([0, 1], where).toContain(code);
      for (const s of secrets) expect(errText.includes(s) || out.includes(s), `${where}: a Secret value was printed`).toBe(false);
      for (const l of errText.split('\n').filter(Boolean)) expect(l, where).toMatch(/^(error: |note: | {2})[^\u0000-\u0008\u000b-\u001f]*$/);
      if (code === 0) {
        accepted.push({ text: out, where, secrets });
        // Structure: exactly what the model of the same YAML says, passwords redacted, and
        // that model only holds values derived from the YAML.
        const docs = parseAllDocuments(yamlText);
        const objs = (Array.isArray(docs) ? docs : [docs])
          .map((d) => d.toJS() as Record<string, unknown> | null)
          .filter((o): o is Record<string, unknown> => typeof o === 'object' && o !== null);
        const of = <T>(kind: string) => objs.filter((o) => o.kind === kind) as T[];
        const node = of<Node>('Node').find((n) => n.metadata?.name === 'node-a')!;
        const parsedInput: BgpPlanInput = {
          node,
          pools: of<PodAddressPool>('PodAddressPool'),
          peers: of<BGPPeer>('BGPPeer'),
          secrets: of<Secret>('Secret'),
          podIPs: podIPsForNode({ nodeName: 'node-a', pods: of<Pod>('Pod'), services: of<Service>('Service') }),
          ...(usedGateway ? { defaultGateway: { v4: '172.31.0.1' } } : {}),
        };
        const model = buildBgpPlan(parsedInput).model;
        checkModelDerived(parsedInput, model);
        expect(parseStructure(out), where).toEqual(parseStructure(expectedConfig(model, { password: () => REDACTED_PASSWORD })));
      } else {
        refusedCount++;
        expect(out, `${where}: refused but printed a config`).toBe('');
        expect(errText, where).toMatch(/^error: /m);
      }
    }
    const results = await birdParse(
      accepted.map((a) => a.text),
      3,
    );
    const bad = results.flatMap((r, k) => (r === '' ? [] : [`${accepted[k]!.where}: ${r}`]));
    console.log(`cli fuzz: ${accepted.length} printed a config, ${refusedCount} refused with errors`);
    expect(bad.slice(0, 5)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(CLI_CASES * 0.05);
  }, 120_000);
});

// ---- blast radius: one invalid object among valid ones harms only itself ----

const BAD_PEER_ADDRS = [
  '::',
  '0.0.0.0',
  '0.1.2.3',
  '127.0.0.1',
  '::1',
  'ff02::1',
  '224.0.0.5',
  '255.255.255.255',
  '240.0.0.1',
  '::ffff:172.31.0.1',
  'fe80::1',
  '169.254.1.1',
];
const SELECTS_NODE = { matchLabels: { 'podlb.io/bgp': 'true' } };

/** A BGPPeer or PodAddressPool that selects the node and is invalid, or a Secret that breaks a peer's password. */
function genInvalidObject(g: Gen): { pools: PodAddressPool[]; peers: BGPPeer[]; secrets: Secret[]; name: string } {
  const k = g.int(4);
  if (k === 0) {
    const p = genPeer(g, 99);
    const spec = p.spec as unknown as Record<string, unknown>;
    spec.nodeSelector = SELECTS_NODE;
    p.metadata.name = 'zz-invalid';
    const c = parsePeer(p, []);
    // A generated peer that happens to be valid gets an address no neighbour can have.
    if (!(c.sessionProblem ?? c.bfdProblem ?? c.passwordProblem)) spec.peerAddress = g.pick(BAD_PEER_ADDRS);
    return { pools: [], peers: [p], secrets: [], name: 'zz-invalid' };
  }
  if (k === 1) {
    const spec = { peerAddress: g.pick(BAD_PEER_ADDRS), peerASN: 65000, localASN: 64512, nodeSelector: SELECTS_NODE };
    return {
      pools: [],
      peers: [{ apiVersion: 'podlb.io/v1alpha1', kind: 'BGPPeer', metadata: { name: 'aa-invalid' }, spec: spec as BGPPeer['spec'] }],
      secrets: [],
      name: 'aa-invalid',
    };
  }
  if (k === 2) {
    // A password podlb cannot place in bird.conf, or no Secret at all.
    const value = g.pick(['', 'x'.repeat(81), 'a"b', 'a\nb', 'pässword']);
    const secrets: Secret[] = g.chance(0.5)
      ? [{ metadata: { name: 'md5', namespace: 'podlb-system' }, data: { password: Buffer.from(value).toString('base64') } }]
      : [];
    const spec = {
      peerAddress: '172.31.0.99',
      peerASN: 65000,
      localASN: 64512,
      nodeSelector: SELECTS_NODE,
      passwordSecretRef: { name: 'md5', key: 'password' },
    };
    return {
      pools: [],
      peers: [{ apiVersion: 'podlb.io/v1alpha1', kind: 'BGPPeer', metadata: { name: 'md5-peer' }, spec: spec as BGPPeer['spec'] }],
      secrets,
      name: 'md5-peer',
    };
  }
  for (;;) {
    const spec: Record<string, unknown> = { cidrs: ['10.251.0.0/16'], advertise: 'NodeCIDR', nodeSelector: SELECTS_NODE };
    const pool = approved({
      apiVersion: 'podlb.io/v1alpha1',
      kind: 'PodAddressPool',
      metadata: { name: 'invalid-pool' },
      spec: spec as unknown as PodAddressPool['spec'],
    });
    // One field made hostile after approval would be ApprovalStale; before it, InvalidPool: both are tried.
    const target = g.chance(0.5) ? (pool.spec as unknown as Record<string, unknown>) : spec;
    target[g.pick(['cidrs', 'advertise', 'nodeSelector', 'communities'])] = hostile(g);
    const p = g.chance(0.5) ? pool : approved({ ...pool, spec: spec as unknown as PodAddressPool['spec'] });
    if (!isUsablePool(parsePool(p))) return { pools: [p], peers: [], secrets: [], name: 'invalid-pool' };
  }
}

describe('blast radius', () => {
  const log = pino({ level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'podlb-blast-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`${BLAST_CASES} cases: one random invalid object among N valid ones never delays a change of the valid ones (real bird -p; seed ${SEED})`, async () => {
    for (let i = 0; i < BLAST_CASES; i++) {
      const where = `seed ${SEED} blast case ${i}`;
      const g = new Gen(rng(SEED ^ Math.imul(i + 7, 0x85ebca6b)));
      const n = 1 + g.int(5);
      const peerAddr = (j: number) => (g.chance(0.3) ? `fd00:31::${10 + j}` : `172.31.0.${10 + j}`);
      const valid: BGPPeer[] = Array.from({ length: n }, (_, j) => ({
        apiVersion: 'podlb.io/v1alpha1',
        kind: 'BGPPeer',
        metadata: { name: `tor-${j}` },
        spec: { peerAddress: peerAddr(j), peerASN: 65000, localASN: 64512, nodeSelector: SELECTS_NODE },
      }));
      const pool = (name: string, cidr: string, advertise: 'NodeCIDR' | 'PodIPs', state: 'Approved' | 'Rejected'): PodAddressPool => {
        const p: PodAddressPool = {
          apiVersion: 'podlb.io/v1alpha1',
          kind: 'PodAddressPool',
          metadata: { name },
          spec: { cidrs: [cidr], advertise, nodeSelector: SELECTS_NODE },
        };
        return state === 'Approved' ? approved(p) : { ...p, spec: { ...p.spec, approval: { state } } };
      };
      const node: Node = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'node-a', labels: { 'podlb.io/bgp': 'true' } },
        spec: { podCIDRs: ['10.244.1.0/24', '10.250.1.0/24', '10.251.1.0/24'] },
        status: { addresses: [{ type: 'InternalIP', address: '172.31.0.2' }] },
      };
      const svc: Service = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's', namespace: 'ads', annotations: { 'podlb.io/load-balancer': 'l7lb' } },
        spec: { selector: { app: 'bidder' } },
      };
      const pod = (name: string, ip: string): Pod => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'ads', labels: { app: 'bidder' } },
        spec: { nodeName: 'node-a', containers: [] },
        status: { phase: 'Running', podIPs: [{ ip }] },
      });
      const bad = genInvalidObject(g);
      const world = (step: number, o: { b: 'Approved' | 'Rejected'; pods: Pod[]; peers: BGPPeer[] }): AgentSnapshot => {
        const objs = [node, ...o.peers, ...bad.peers, ...bad.pools, ...bad.secrets];
        const pools = [
          pool('a', '10.244.0.0/16', 'NodeCIDR', 'Approved'),
          pool('b', '10.250.0.0/16', 'NodeCIDR', o.b),
          pool('c', '10.99.0.0/16', 'PodIPs', 'Approved'),
          ...bad.pools,
        ];
        for (const x of [...objs, ...pools]) x.metadata = { ...x.metadata, resourceVersion: String(step) };
        return agentSnapshot({ nodeName: 'node-a', node, pods: o.pods, services: [svc], pools, peers: [...o.peers, ...bad.peers], secrets: bad.secrets });
      };
      const configPath = join(dir, `bird-${i}.conf`);
      const r = new BirdConfigReconciler({ nodeName: 'node-a', control: birdParseControl(), configPath, log, metrics: new AgentMetrics() });
      const before = { b: 'Approved' as const, pods: [pod('p1', '10.99.0.5'), pod('p2', '10.99.0.6')], peers: valid };
      const first = await r.reconcile(world(1, before), 1_000);
      const running = () => readFileSync(configPath, 'utf8');
      expect(first.status?.conditions?.[0], where).toMatchObject({ type: 'ConfigApplied', status: 'True' });
      const warnings = (res: typeof first) => (res.problems ?? []).filter((p) => p.severity === 'Warning');
      // Reported on the invalid object only.
      expect(
        warnings(first).map((p) => p.object.name),
        where,
      ).toEqual([bad.name]);
      for (const p of valid) expect(running(), where).toContain(`neighbor ${parseIp(p.spec.peerAddress)!.text} as 65000`);
      for (const x of ['10.244.1.0/24', '10.250.1.0/24', '10.99.0.5/32', '10.99.0.6/32']) expect(running(), where).toContain(x);

      // One change of the valid objects, taken in the very next run.
      const change = g.int(4);
      const after =
        change === 0
          ? { ...before, b: 'Rejected' as const }
          : change === 1
            ? { ...before, pods: [before.pods[0]!] }
            : change === 2
              ? { ...before, peers: valid.slice(1) }
              : { ...before, peers: [...valid, { ...valid[0]!, metadata: { name: 'tor-new' }, spec: { ...valid[0]!.spec, peerAddress: '172.31.0.77' } }] };
      const second = await r.reconcile(world(2, after), 2_000);
      expect(second.status?.conditions?.[0], where).toMatchObject({ type: 'ConfigApplied', status: 'True' });
      expect(
        warnings(second).map((p) => p.object.name),
        where,
      ).toEqual([bad.name]);
      const text = running();
      expect(text.includes('10.250.1.0/24'), `${where}: pool b ${after.b}`).toBe(after.b === 'Approved');
      expect(text.includes('10.99.0.6/32'), `${where}: deleted Pod's /32`).toBe(after.pods.length === 2);
      for (const p of valid)
        expect(text.includes(`neighbor ${parseIp(p.spec.peerAddress)!.text} as`), `${where}: ${p.metadata.name}`).toBe(after.peers.includes(p));
      expect(text.includes('neighbor 172.31.0.77 as'), where).toBe(change === 3);
      expect(text, where).not.toContain('10.251.');
    }
  }, 120_000);
});
