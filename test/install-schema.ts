// Validates podlb objects against the CustomResourceDefinitions in daemonset/crds/, as close to
// the API server as a test can get without one:
//   - the openAPIV3Schema, compiled with ajv (formats cidr, ipv4, ipv6, date-time, int32, int64
//     implemented like Kubernetes' strfmt);
//   - unknown fields are errors, as with kubectl's default --validate=strict (the API server
//     itself would prune them silently, which hides typos);
//   - x-kubernetes-list-type set/map: duplicate items are errors;
//   - x-kubernetes-validations (CEL): no CEL evaluator here, so every rule has a hand-written
//     JavaScript mirror in CEL_RULE_MIRRORS, keyed by the exact rule text. A rule without a
//     mirror is reported as an error, so a new rule cannot go untested. As in the API server,
//     rules run only once the object passes the schema.
//   - metadata.name: required, a DNS-1123 subdomain (what the API server checks for custom
//     resources).
// Not checked: defaulting, and admission (the ValidatingAdmissionPolicy on spec.approval).
//
// Other tests use validateAgainstCrds(obj) to prove their objects (lab, fixtures) are objects a
// real cluster would accept.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isIPv4, isIPv6 } from 'node:net';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The repository root: the nearest ancestor with package.json named podlb (works from dist/ too). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'podlb') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('podlb repository root not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** Every YAML document of a file (empty documents skipped); throws on a parse error. */
export function loadYamlDocs(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const out: unknown[] = [];
  for (const d of Array.isArray(docs) ? docs : [docs]) {
    if (d.errors.length > 0) throw new Error(`${path}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v: unknown = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

// ---- CRDs ----

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  subresources?: { status?: object };
  additionalPrinterColumns?: { name: string; type: string; jsonPath: string; priority?: number; description?: string }[];
  schema: { openAPIV3Schema: Obj };
}

export interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: 'Cluster' | 'Namespaced';
    names: { kind: string; listKind?: string; plural: string; singular?: string; shortNames?: string[]; categories?: string[] };
    versions: CrdVersion[];
  };
  /** The file it came from, relative to the repository root. */
  file: string;
}

export const CRD_DIR = 'daemonset/crds';

export function loadCrds(root = repoRoot()): Crd[] {
  const dir = join(root, CRD_DIR);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadYamlDocs(join(dir, f)).map((d) => ({ ...(d as Omit<Crd, 'file'>), file: `${CRD_DIR}/${f}` })));
}

// ---- CEL mirrors ----

type Mirror = (self: unknown) => boolean;

function has(o: unknown, k: string): boolean {
  return isObj(o) && o[k] !== undefined && o[k] !== null;
}
function field(o: unknown, k: string): unknown {
  return isObj(o) ? o[k] : undefined;
}

/** podlb's default BGP hold time: src/bgp/model.ts DEFAULT_HOLD_TIME, also written in the BGPPeer CEL rule. */
const DEFAULT_HOLD_TIME = 90;

/**
 * JavaScript twins of every CEL rule in the CRDs, keyed by the exact rule text. Change a rule in
 * a CRD and its key here together; install-manifests.test.ts fails on any rule without a mirror
 * and any mirror without a rule.
 */
export const CEL_RULE_MIRRORS: ReadonlyMap<string, Mirror> = new Map<string, Mirror>([
  // BGPPeer spec
  [
    '!has(self.keepaliveSeconds) || ((has(self.holdTimeSeconds) ? self.holdTimeSeconds : 90) == 0 ? self.keepaliveSeconds == 0 : self.keepaliveSeconds >= 1 && self.keepaliveSeconds < (has(self.holdTimeSeconds) ? self.holdTimeSeconds : 90))',
    (s) => {
      if (!has(s, 'keepaliveSeconds')) return true;
      const hold = has(s, 'holdTimeSeconds') ? Number(field(s, 'holdTimeSeconds')) : DEFAULT_HOLD_TIME;
      const k = Number(field(s, 'keepaliveSeconds'));
      return hold === 0 ? k === 0 : k >= 1 && k < hold;
    },
  ],
  [
    "!has(self.sourceAddress) || self.peerAddress == 'Gateway' || self.sourceAddress.contains(':') == self.peerAddress.contains(':')",
    (s) =>
      !has(s, 'sourceAddress') ||
      field(s, 'peerAddress') === 'Gateway' ||
      String(field(s, 'sourceAddress')).includes(':') === String(field(s, 'peerAddress')).includes(':'),
  ],
  // BGPPeer spec.holdTimeSeconds
  ['self == 0 || self >= 3', (s) => s === 0 || (typeof s === 'number' && s >= 3)],
  // LoadBalancerClass spec
  ["self.provider != 'haproxy' || has(self.haproxy)", (s) => field(s, 'provider') !== 'haproxy' || has(s, 'haproxy')],
  ["self.provider != 'octavia' || has(self.octavia)", (s) => field(s, 'provider') !== 'octavia' || has(s, 'octavia')],
  ['!(has(self.haproxy) && has(self.octavia))', (s) => !(has(s, 'haproxy') && has(s, 'octavia'))],
]);

export interface CelRule {
  rule: string;
  message?: string;
  /** Dotted schema path of the node carrying the rule ('' = root). */
  at: string;
}

/** Every x-kubernetes-validations rule of a schema, with where it sits. */
export function celRulesIn(schema: unknown, at = ''): CelRule[] {
  if (!isObj(schema)) return [];
  const out: CelRule[] = [];
  const rules = schema['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const r of rules) if (isObj(r)) out.push({ rule: String(r.rule), ...(typeof r.message === 'string' ? { message: r.message } : {}), at });
  }
  if (isObj(schema.properties)) for (const [k, v] of Object.entries(schema.properties)) out.push(...celRulesIn(v, at ? `${at}.${k}` : k));
  if (isObj(schema.items)) out.push(...celRulesIn(schema.items, `${at}[]`));
  if (isObj(schema.additionalProperties)) out.push(...celRulesIn(schema.additionalProperties, `${at}{}`));
  return out;
}

// ---- structural schema checks ----

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
/** The fields of apiextensions.k8s.io/v1 JSONSchemaProps: anything else is rejected by the API server. */
const SCHEMA_KEYS = new Set([
  'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'enum', 'maxProperties',
  'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not', 'properties', 'additionalProperties',
  'nullable', 'example', 'externalDocs', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
/** JSONSchemaProps fields Kubernetes refuses in CRDs (v1), or that podlb does not want. */
const FORBIDDEN_KEYS = ['$ref', '$schema', 'id', 'definitions', 'dependencies', 'patternProperties', 'additionalItems'];
/** What may not appear inside allOf/anyOf/oneOf/not (value validations only). */
const NOT_IN_JUNCTORS = ['type', 'description', 'default', 'additionalProperties', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-embedded-resource', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations'];
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;

/**
 * Problems that make a CRD schema non-structural (Kubernetes rejects such a v1 CRD), plus
 * podlb's size policy: every array has maxItems, every string maxLength or enum, every map
 * maxProperties, so that objects stay small and CEL cost estimates stay bounded.
 * Empty = fine.
 */
export function structuralProblems(root: unknown): string[] {
  const problems: string[] = [];
  if (!isObj(root)) return ['<root>: schema must be an object'];
  if (root.type !== 'object') problems.push('<root>: type must be object');
  const meta = isObj(root.properties) ? root.properties.metadata : undefined;
  if (meta !== undefined && !(isObj(meta) && Object.keys(meta).every((k) => k === 'type') && meta.type === 'object')) {
    problems.push('metadata: only {type: object} is allowed (restrictions on name/generateName aside, which podlb does not use)');
  }
  walkStructural(root, '', problems);
  return problems;
}

function walkStructural(s: Obj, path: string, problems: string[]): void {
  const p = path || '<root>';
  for (const k of Object.keys(s)) if (!SCHEMA_KEYS.has(k)) problems.push(`${p}: unknown schema field ${k}`);
  for (const k of FORBIDDEN_KEYS) if (k in s) problems.push(`${p}: ${k} is not allowed`);
  if (s.uniqueItems === true) problems.push(`${p}: uniqueItems: true is not allowed (use x-kubernetes-list-type: set)`);
  const escape = s['x-kubernetes-int-or-string'] === true || s['x-kubernetes-preserve-unknown-fields'] === true;
  if (!escape) {
    if (typeof s.type !== 'string' || !TYPES.has(s.type)) problems.push(`${p}: type must be one of ${[...TYPES].join(', ')}`);
  }
  if ('properties' in s && 'additionalProperties' in s) problems.push(`${p}: properties and additionalProperties are mutually exclusive`);
  if ('additionalProperties' in s && !isObj(s.additionalProperties)) problems.push(`${p}: additionalProperties must be a schema, not a boolean`);
  if ((s.properties !== undefined || s.additionalProperties !== undefined || s.required !== undefined) && s.type !== 'object') {
    problems.push(`${p}: properties/additionalProperties/required need type object`);
  }
  if (Array.isArray(s.required)) {
    for (const r of s.required) if (!isObj(s.properties) || !(String(r) in s.properties)) problems.push(`${p}: required field ${String(r)} is not in properties`);
  }
  if (s.type === 'array') {
    if (!isObj(s.items)) problems.push(`${p}: an array needs items, a single schema`);
    if (typeof s.maxItems !== 'number') problems.push(`${p}: an array needs maxItems (size policy)`);
  }
  if (s.items !== undefined && s.type !== 'array') problems.push(`${p}: items needs type array`);
  const typeMeta = path === 'apiVersion' || path === 'kind'; // TypeMeta: the API server checks these
  if (s.type === 'string' && !typeMeta && typeof s.maxLength !== 'number' && !Array.isArray(s.enum)) problems.push(`${p}: a string needs maxLength or enum (size policy)`);
  if (isObj(s.additionalProperties) && typeof s.maxProperties !== 'number') problems.push(`${p}: a map needs maxProperties (size policy)`);
  const lt = s['x-kubernetes-list-type'];
  if (lt !== undefined) {
    if (s.type !== 'array') problems.push(`${p}: x-kubernetes-list-type needs type array`);
    if (!['atomic', 'set', 'map'].includes(String(lt))) problems.push(`${p}: x-kubernetes-list-type must be atomic, set or map`);
    const items = isObj(s.items) ? s.items : {};
    if (lt === 'set' && !['string', 'integer', 'number', 'boolean'].includes(String(items.type))) problems.push(`${p}: list-type set needs scalar items`);
    if (lt === 'map') {
      const keys = s['x-kubernetes-list-map-keys'];
      if (!Array.isArray(keys) || keys.length === 0) problems.push(`${p}: list-type map needs x-kubernetes-list-map-keys`);
      else {
        const req = Array.isArray(items.required) ? items.required.map(String) : [];
        for (const k of keys) {
          const ks = isObj(items.properties) ? items.properties[String(k)] : undefined;
          if (!isObj(ks)) problems.push(`${p}: list map key ${String(k)} is not a property of the items`);
          else if (!['string', 'integer', 'number', 'boolean'].includes(String(ks.type))) problems.push(`${p}: list map key ${String(k)} must be a scalar`);
          else if (!req.includes(String(k)) && ks.default === undefined) problems.push(`${p}: list map key ${String(k)} must be required or defaulted`);
        }
      }
    }
  } else if ('x-kubernetes-list-map-keys' in s) problems.push(`${p}: x-kubernetes-list-map-keys needs x-kubernetes-list-type: map`);
  const rules = s['x-kubernetes-validations'];
  if (rules !== undefined) {
    if (!Array.isArray(rules)) problems.push(`${p}: x-kubernetes-validations must be a list`);
    else for (const r of rules) if (!isObj(r) || typeof r.rule !== 'string' || typeof r.message !== 'string') problems.push(`${p}: every x-kubernetes-validations entry needs rule and message`);
  }
  for (const j of JUNCTORS) {
    const subs = j === 'not' ? (s.not === undefined ? [] : [s.not]) : s[j] === undefined ? [] : s[j];
    if (!Array.isArray(subs)) {
      problems.push(`${p}: ${j} must be a list`);
      continue;
    }
    subs.forEach((sub, i) => walkJunctor(sub, s, `${p}.${j}[${i}]`, problems));
  }
  if (isObj(s.properties)) for (const [k, v] of Object.entries(s.properties)) {
    if (isObj(v)) walkStructural(v, path ? `${path}.${k}` : k, problems);
    else problems.push(`${path ? `${path}.${k}` : k}: must be a schema`);
  }
  if (isObj(s.items)) walkStructural(s.items, `${path}[]`, problems);
  if (isObj(s.additionalProperties)) walkStructural(s.additionalProperties, `${path}{}`, problems);
}

/** Inside allOf/anyOf/oneOf/not: value validations only, on fields the outer schema declares. */
function walkJunctor(sub: unknown, outer: Obj, p: string, problems: string[]): void {
  if (!isObj(sub)) {
    problems.push(`${p}: must be a schema`);
    return;
  }
  for (const k of Object.keys(sub)) if (!SCHEMA_KEYS.has(k)) problems.push(`${p}: unknown schema field ${k}`);
  for (const k of NOT_IN_JUNCTORS) if (k in sub) problems.push(`${p}: ${k} is not allowed inside a junctor`);
  if (isObj(sub.properties)) {
    for (const [k, v] of Object.entries(sub.properties)) {
      const o = isObj(outer.properties) ? outer.properties[k] : undefined;
      if (!isObj(o)) problems.push(`${p}.properties.${k}: not declared outside the junctor`);
      else walkJunctor(v, o, `${p}.${k}`, problems);
    }
  }
  if (sub.items !== undefined) {
    if (!isObj(outer.items)) problems.push(`${p}.items: not declared outside the junctor`);
    else walkJunctor(sub.items, outer.items, `${p}[]`, problems);
  }
  for (const j of JUNCTORS) {
    const subs = j === 'not' ? (sub.not === undefined ? [] : [sub.not]) : sub[j] === undefined ? [] : sub[j];
    if (Array.isArray(subs)) subs.forEach((x, i) => walkJunctor(x, outer, `${p}.${j}[${i}]`, problems));
  }
}

// ---- ajv ----

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Go net.ParseCIDR, as Kubernetes' `cidr` format uses it: no zone, prefix length in range. */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0 || s.includes('%')) return false;
  const ip = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(len)) return false;
  if (isIPv4(ip)) return Number(len) <= 32;
  if (isIPv6(ip)) return Number(len) <= 128;
  return false;
}

/** The formats the CRDs use, implemented like Kubernetes' strfmt registry. */
export const FORMATS: Readonly<Record<string, { type: 'string' | 'number'; validate: (v: never) => boolean }>> = {
  cidr: { type: 'string', validate: (s: string) => isCidr(s) },
  ipv4: { type: 'string', validate: (s: string) => isIPv4(s) },
  ipv6: { type: 'string', validate: (s: string) => isIPv6(s) && !s.includes('%') },
  'date-time': { type: 'string', validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)) },
  int32: { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 },
  int64: { type: 'number', validate: (n: number) => Number.isSafeInteger(n) },
};

export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: true, strictRequired: true });
  ajv.addVocabulary([
    'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource', 'x-kubernetes-int-or-string',
    'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type', 'x-kubernetes-validations',
    'example', 'externalDocs',
  ]);
  for (const [name, f] of Object.entries(FORMATS)) ajv.addFormat(name, f as { type: 'string'; validate: (s: string) => boolean });
  return ajv;
}

/**
 * The schema ajv checks: the CRD's, with additionalProperties: false on every object that lists
 * its fields (kubectl's strict field validation), and metadata left to checkMetadata.
 */
export function ajvSchemaFor(openAPIV3Schema: Obj): Obj {
  const s = structuredClone(openAPIV3Schema);
  if (isObj(s.properties)) s.properties.metadata = { type: 'object' };
  closeObjects(s, true);
  return s;
}

function closeObjects(s: Obj, isRoot = false): void {
  if (s.type === 'object' && s.additionalProperties === undefined && s['x-kubernetes-preserve-unknown-fields'] !== true) {
    s.additionalProperties = false;
  }
  if (isObj(s.properties)) {
    for (const [k, v] of Object.entries(s.properties)) {
      if (isRoot && k === 'metadata') continue; // checked by checkMetadata
      if (isObj(v)) closeObjects(v);
    }
  }
  if (isObj(s.items)) closeObjects(s.items);
  if (isObj(s.additionalProperties)) closeObjects(s.additionalProperties);
}

// ---- validation ----

interface Compiled {
  crd: Crd;
  version: CrdVersion;
  validate: ValidateFunction;
}

let compiled: Map<string, Compiled> | undefined;

function registry(): Map<string, Compiled> {
  if (compiled) return compiled;
  const ajv = createAjv();
  const m = new Map<string, Compiled>();
  for (const crd of loadCrds()) {
    for (const version of crd.spec.versions) {
      if (!version.served) continue;
      const validate = ajv.compile(ajvSchemaFor(version.schema.openAPIV3Schema));
      m.set(`${crd.spec.group}/${version.name}|${crd.spec.names.kind}`, { crd, version, validate });
    }
  }
  compiled = m;
  return m;
}

/** The CRD (and version) serving this object's apiVersion and kind, if podlb has one. */
export function crdFor(obj: unknown): { crd: Crd; version: CrdVersion } | undefined {
  if (!isObj(obj)) return undefined;
  const c = registry().get(`${String(obj.apiVersion)}|${String(obj.kind)}`);
  return c && { crd: c.crd, version: c.version };
}

/** True when obj is of a kind podlb defines (so validateAgainstCrds applies to it). */
export function hasCrdFor(obj: unknown): boolean {
  return crdFor(obj) !== undefined;
}

function joinPath(path: string, key: string): string {
  if (/^[0-9]+$/.test(key)) return `${path}[${key}]`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path ? `${path}.${key}` : key;
}

/** JSON pointer (ajv's instancePath) to the dotted form of Kubernetes messages: spec.cidrs[0]. */
function pointerToPath(ptr: string): string {
  let out = '';
  for (const raw of ptr.split('/').slice(1)) out = joinPath(out, raw.replace(/~1/g, '/').replace(/~0/g, '~'));
  return out;
}

function formatAjvError(e: ErrorObject): string {
  const at = pointerToPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${joinPath(at, String(params.missingProperty))}: Required value`;
    case 'additionalProperties':
      return `${joinPath(at, String(params.additionalProperty))}: unknown field`;
    case 'enum':
      return `${at || '<root>'}: must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'anyOf': {
      const branches = (e.schema as unknown[]).map((b) => (isObj(b) && 'format' in b ? `format ${String(b.format)}` : JSON.stringify(b)));
      return `${at || '<root>'}: must match one of: ${branches.join(' | ')}`;
    }
    default:
      return `${at || '<root>'}: ${e.message ?? e.keyword}`;
  }
}

function checkMetadata(meta: unknown): string[] {
  if (!isObj(meta)) return ['metadata: Required value'];
  const name = meta.name;
  if (typeof name !== 'string' || name === '') return ['metadata.name: Required value'];
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) return [`metadata.name: ${JSON.stringify(name)} must be a lowercase RFC 1123 subdomain`];
  return [];
}

function checkListsAndRules(schema: unknown, data: unknown, path: string, errs: string[]): void {
  if (!isObj(schema)) return;
  const rules = schema['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    for (const r of rules) {
      if (!isObj(r)) continue;
      const mirror = CEL_RULE_MIRRORS.get(String(r.rule));
      if (!mirror) errs.push(`${path || '<root>'}: CEL rule has no JavaScript mirror in test/install-schema.ts: ${String(r.rule)}`);
      else if (!mirror(data)) errs.push(`${path || '<root>'}: ${typeof r.message === 'string' ? r.message : `failed rule: ${String(r.rule)}`}`);
    }
  }
  if (Array.isArray(data)) {
    const lt = schema['x-kubernetes-list-type'];
    const keys = Array.isArray(schema['x-kubernetes-list-map-keys']) ? schema['x-kubernetes-list-map-keys'].map(String) : [];
    const seen = new Set<string>();
    data.forEach((item, i) => {
      const key = lt === 'set' ? JSON.stringify(item) : lt === 'map' ? JSON.stringify(keys.map((k) => field(item, k))) : undefined;
      if (key !== undefined) {
        if (seen.has(key)) errs.push(`${path}[${i}]: Duplicate value: ${lt === 'set' ? key : `{${keys.map((k, j) => `${k}: ${JSON.stringify((JSON.parse(key) as unknown[])[j])}`).join(', ')}}`}`);
        seen.add(key);
      }
      checkListsAndRules(schema.items, item, `${path}[${i}]`, errs);
    });
  } else if (isObj(data)) {
    const props = isObj(schema.properties) ? schema.properties : {};
    for (const [k, v] of Object.entries(data)) {
      const sub = props[k] ?? schema.additionalProperties;
      if (sub !== undefined) checkListsAndRules(sub, v, joinPath(path, k), errs);
    }
  }
}

/**
 * Validates a podlb object (PodAddressPool, BGPPeer, LoadBalancerClass, PodLBNode) against its
 * CRD. Returns the problems as `path: message` strings; empty when the object is valid.
 * Objects of other kinds get one error: filter with hasCrdFor() first when mixing kinds.
 */
export function validateAgainstCrds(obj: unknown): string[] {
  if (!isObj(obj)) return ['<root>: must be an object'];
  const c = registry().get(`${String(obj.apiVersion)}|${String(obj.kind)}`);
  if (!c) return [`<root>: no podlb CRD serves apiVersion ${JSON.stringify(obj.apiVersion)} kind ${JSON.stringify(obj.kind)}`];
  const errs = checkMetadata(obj.metadata);
  if (!c.validate(obj)) {
    for (const e of c.validate.errors ?? []) {
      if (e.schemaPath.includes('/anyOf/')) continue; // branch details: summarised by the anyOf error
      errs.push(formatAjvError(e));
    }
  }
  if (errs.length > 0) return [...new Set(errs)];
  checkListsAndRules(c.version.schema.openAPIV3Schema, obj, '', errs);
  return errs;
}
