// Renders bird.conf from a BirdModel with the handlebars templates in bird-templates/
// (noEscape: BIRD is not HTML; strict: a missing field is a bug, not an empty string).
// The model is already validated; every value is checked once more against the exact shape
// BIRD's grammar gets here, so a bug upstream cannot turn into config injection.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { PodlbError } from '../util/errors.js';
import { BIRD_SYMBOL } from './bird-values.js';
import { routeCommunities, type BirdModel, type BirdPeerModel } from './model.js';

export const REDACTED_PASSWORD = 'podlb-redacted';

export interface RenderOptions {
  /** Replace passwords by a placeholder (CLI output, logs). */
  redactPasswords?: boolean;
}

function findTemplatesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'bird-templates');
    if (existsSync(join(candidate, 'bird.conf.hbs'))) return candidate;
    dir = dirname(dir);
  }
  throw new PodlbError('BIRD_TEMPLATES_MISSING', 'bird-templates/ not found next to podlb (looked in the parents of the module directory)');
}

let compiled: Handlebars.TemplateDelegate | undefined;

function template(): Handlebars.TemplateDelegate {
  if (compiled) return compiled;
  const dir = findTemplatesDir();
  const hb = Handlebars.create();
  const opts = { noEscape: true, strict: true } as const;
  hb.registerPartial('family', hb.compile(readFileSync(join(dir, 'family.hbs'), 'utf8'), opts));
  hb.registerPartial('peer', hb.compile(readFileSync(join(dir, 'peer.hbs'), 'utf8'), opts));
  compiled = hb.compile(readFileSync(join(dir, 'bird.conf.hbs'), 'utf8'), opts);
  return compiled;
}

const V4 = /^(\d{1,3})(\.\d{1,3}){3}$/;
const V6 = /^[0-9a-f:]{2,39}$/;
const CIDR4 = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;
const CIDR6 = /^[0-9a-f:]{2,39}\/\d{1,3}$/;
const PASSWORD = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,80}$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function unsafe(what: string): never {
  throw new PodlbError('BIRD_RENDER_UNSAFE', `refusing to render bird.conf: ${what} does not have the validated shape (a bug in the BGP model)`);
}

function checkInt(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) unsafe(what);
  return v;
}

function checkRe(v: unknown, re: RegExp, what: string): string {
  if (typeof v !== 'string' || !re.test(v)) unsafe(what);
  return v;
}

const FAMILIES = [
  {
    fam: 4,
    key: 'v4',
    exportKey: 'exportV4',
    max: 32,
    label: 'IPv4',
    channel: 'ipv4',
    setName: 'PODLB_V4',
    staticName: 'podlb_static_v4',
    filterName: 'podlb_export_v4',
    cidr: CIDR4,
  },
  {
    fam: 6,
    key: 'v6',
    exportKey: 'exportV6',
    max: 128,
    label: 'IPv6',
    channel: 'ipv6',
    setName: 'PODLB_V6',
    staticName: 'podlb_static_v6',
    filterName: 'podlb_export_v6',
    cidr: CIDR6,
  },
] as const;

function peerView(p: BirdPeerModel, opts: RenderOptions) {
  const fam = FAMILIES.find((f) => f.fam === p.family) ?? unsafe('peer family');
  return {
    comment: typeof p.peer === 'string' && DNS_SUBDOMAIN.test(p.peer) ? p.peer : '(name not shown: not a DNS subdomain)',
    protocol: checkRe(p.protocol, BIRD_SYMBOL, 'protocol name'),
    localAsn: checkInt(p.localAsn, 1, 4294967295, 'local ASN'),
    peerAsn: checkInt(p.peerAsn, 1, 4294967295, 'peer ASN'),
    address: checkRe(p.address, p.family === 4 ? V4 : V6, 'peer address'),
    sourceAddress: p.sourceAddress === undefined ? null : checkRe(p.sourceAddress, p.family === 4 ? V4 : V6, 'source address'),
    multihop: p.multihop === undefined ? null : checkInt(p.multihop, 1, 255, 'multihop'),
    holdTime: p.holdTime === 0 ? 0 : checkInt(p.holdTime, 3, 65535, 'hold time'),
    keepaliveTime: p.keepaliveTime === undefined ? null : checkInt(p.keepaliveTime, 1, Math.max(1, p.holdTime - 1), 'keepalive time'),
    gracefulRestart: p.gracefulRestart.enabled === true ? 'on' : p.gracefulRestart.enabled === false ? 'off' : unsafe('graceful restart'),
    restartTime:
      p.gracefulRestart.enabled && p.gracefulRestart.restartTime !== undefined
        ? checkInt(p.gracefulRestart.restartTime, 1, 4095, 'graceful restart time')
        : null,
    password: p.password === undefined ? null : opts.redactPasswords ? REDACTED_PASSWORD : checkRe(p.password, PASSWORD, 'password'),
    bfd:
      p.bfd === undefined
        ? null
        : { intervalMs: checkInt(p.bfd.intervalMs, 1, 60000, 'BFD interval'), multiplier: checkInt(p.bfd.multiplier, 1, 255, 'BFD multiplier') },
    channel: fam.channel,
    filterName: fam.filterName,
  };
}

/** The device protocol block every podlb bird.conf starts with (see bird.conf.hbs for why). */
export const BIRD_DEVICE_PROTOCOL = 'protocol device podlb_device {\n  scan time 10;\n}';

/**
 * What BIRD runs before the agent's first render (the lab; the DaemonSet's init container
 * writes the same text). The device protocol must match the rendered one by name.
 */
export function birdInitialConfig(routerId: string): string {
  return `# Initial podlb configuration: the agent replaces it.\nrouter id ${routerId};\n\n${BIRD_DEVICE_PROTOCOL}\n`;
}

/** The whole bird.conf text for a model. Deterministic: equal models give equal bytes. */
export function renderBirdConf(model: BirdModel, opts: RenderOptions = {}): string {
  // Communities ride on the static routes, not in the filter: a route's change then re-sends
  // that route alone (see ExportPattern).
  const communitiesOf = routeCommunities(model);
  const attributes = (prefix: string): string | null =>
    communitiesOf
      .get(prefix)
      ?.map(([asn, value]) => `bgp_community.add((${checkInt(asn, 0, 65535, 'community')}, ${checkInt(value, 0, 65535, 'community')}));`)
      .join(' ') ?? null;
  const families = FAMILIES.map((f) => {
    const routes = model[f.key].map((c) => ({ prefix: checkRe(c, f.cidr, `${f.label} prefix`), attributes: attributes(c) }));
    const exportSet = model[f.exportKey].map((e) => {
      const prefix = checkRe(e.prefix, f.cidr, `${f.label} export prefix`);
      return e.hostRoutes === true ? `${prefix}{${f.max},${f.max}}` : e.hostRoutes === false ? prefix : unsafe('export pattern');
    });
    return { ...f, cidr: null, routes, exportSet, exportList: exportSet.join(', ') };
  });
  const peers = model.peers.map((p) => peerView(p, opts));
  const view = {
    routerId: model.routerId === undefined ? null : checkRe(model.routerId, V4, 'router id'),
    bfd: peers.some((p) => p.bfd !== null),
    families,
    peers,
  };
  return template()(view);
}
