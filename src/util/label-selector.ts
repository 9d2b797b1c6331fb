// Label selectors, the one place they are matched: metav1.LabelSelector parsed and validated
// once at the edge into a typed selector, the string form's requirements (parsed by the API
// server, apiserver/selectors.ts), and the plain maps of matchLabels and Service selectors.
// Calico's selector language (controller/calico/selector.ts) is written from these requirements.
// Semantics follow Kubernetes (apimachinery labels.Selector): requirements are ANDed; an empty
// selector ({}) matches everything; a missing selector is the caller's decision (podlb treats a
// missing nodeSelector as "all nodes").
import type { LabelSelector } from '../api/types.js';
import { InvalidObjectError } from './errors.js';

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** Sorted, deduplicated. Empty for Exists/DoesNotExist. */
  readonly values: readonly string[];
}

export interface ParsedSelector {
  /** Sorted by key, then operator: deterministic for comparisons and messages. */
  readonly requirements: readonly Requirement[];
}

/** Field-level error; callers wrap it into a Problem or InvalidObjectError with the object. */
export class LabelSelectorError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'LabelSelectorError';
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Why `key` is not a valid qualified label key, or undefined when it is. */
export function labelKeyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'must be a string';
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix.length === 0 || prefix.length > 253) return 'prefix must be 1-253 characters';
    if (!prefix.split('.').every((p) => DNS1123_LABEL.test(p))) return 'prefix must be a DNS subdomain';
  }
  if (name.length === 0 || name.length > 63) return 'name part must be 1-63 characters';
  if (!NAME_PART.test(name)) return "name part must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is. */
export function labelValueProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length > 63) return 'must be at most 63 characters';
  if (!VALUE.test(value)) return "must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses a LabelSelector. `field` is the path of the selector in its object (e.g.
 * `spec.nodeSelector`), used in error messages. Throws LabelSelectorError naming the field.
 */
export function parseLabelSelector(raw: unknown, field: string): ParsedSelector {
  if (raw === undefined || raw === null) return { requirements: [] };
  if (!isPlainObject(raw)) throw new LabelSelectorError(field, 'must be an object with matchLabels and/or matchExpressions');
  for (const k of Object.keys(raw)) {
    if (k !== 'matchLabels' && k !== 'matchExpressions')
      throw new LabelSelectorError(`${field}.${k}`, 'unknown field (expected matchLabels or matchExpressions)');
  }
  const reqs: Requirement[] = [];
  const ml = (raw as LabelSelector).matchLabels as unknown;
  if (ml !== undefined && ml !== null) {
    if (!isPlainObject(ml)) throw new LabelSelectorError(`${field}.matchLabels`, 'must be a map of label key to value');
    for (const [k, v] of Object.entries(ml)) {
      const kp = labelKeyProblem(k);
      if (kp) throw new LabelSelectorError(`${field}.matchLabels[${JSON.stringify(k)}]`, `invalid label key: ${kp}`);
      const vp = labelValueProblem(v);
      if (vp) throw new LabelSelectorError(`${field}.matchLabels[${k}]`, `invalid label value: ${vp}`);
      reqs.push({ key: k, operator: 'In', values: [v as string] });
    }
  }
  const me = (raw as LabelSelector).matchExpressions as unknown;
  if (me !== undefined && me !== null) {
    if (!Array.isArray(me)) throw new LabelSelectorError(`${field}.matchExpressions`, 'must be a list');
    me.forEach((e: unknown, i) => {
      const f = `${field}.matchExpressions[${i}]`;
      if (!isPlainObject(e)) throw new LabelSelectorError(f, 'must be an object with key, operator and values');
      const kp = labelKeyProblem(e.key);
      if (kp) throw new LabelSelectorError(`${f}.key`, `invalid label key: ${kp}`);
      const op = e.operator;
      if (typeof op !== 'string' || !(OPERATORS as readonly string[]).includes(op)) {
        throw new LabelSelectorError(`${f}.operator`, `must be one of ${OPERATORS.join(', ')}`);
      }
      const operator = op as SelectorOperator;
      let values: string[] = [];
      if (operator === 'In' || operator === 'NotIn') {
        if (!Array.isArray(e.values) || e.values.length === 0) throw new LabelSelectorError(`${f}.values`, `must be a non-empty list for operator ${operator}`);
        e.values.forEach((v: unknown, j: number) => {
          const vp = labelValueProblem(v);
          if (vp) throw new LabelSelectorError(`${f}.values[${j}]`, `invalid label value: ${vp}`);
        });
        values = [...new Set(e.values as string[])].sort();
      } else if (e.values !== undefined && e.values !== null && !(Array.isArray(e.values) && e.values.length === 0)) {
        throw new LabelSelectorError(`${f}.values`, `must be empty for operator ${operator}`);
      }
      reqs.push({ key: e.key as string, operator, values });
    });
  }
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.operator < b.operator ? -1 : a.operator > b.operator ? 1 : 0));
  return { requirements: reqs };
}

/**
 * `k>n` and `k<n`: only the string form of a selector (`?labelSelector=` of a list or watch) can
 * write them; a metav1.LabelSelector cannot, so ParsedSelector never holds one.
 */
export interface NumericRequirement {
  readonly key: string;
  readonly operator: 'Gt' | 'Lt';
  readonly value: number;
}

export type AnyRequirement = Requirement | NumericRequirement;

export function requirementMatches(r: AnyRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  switch (r.operator) {
    case 'In':
      return has && r.values.includes(labels[r.key]!);
    case 'NotIn':
      return !has || !r.values.includes(labels[r.key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      const v = labels[r.key];
      if (!has || !/^-?\d+$/.test(v!)) return false;
      return r.operator === 'Gt' ? Number(v) > r.value : Number(v) < r.value;
    }
  }
}

/** Requirements are ANDed: none at all matches everything. */
export function requirementsMatch(reqs: readonly AnyRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => requirementMatches(r, l));
}

export function selectorMatches(sel: ParsedSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  return requirementsMatch(sel.requirements, labels);
}

/**
 * A metav1.LabelSelector that a server already accepted, as requirements, without validating it
 * again; an operator it does not know adds no requirement.
 */
export function requirementsOf(sel: {
  matchLabels?: Record<string, string>;
  matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] }[];
}): Requirement[] {
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key: k, operator: 'In', values: [v] });
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator;
    if (op === 'In' || op === 'NotIn') reqs.push({ key: e.key, operator: op, values: e.values ?? [] });
    else if (op === 'Exists' || op === 'DoesNotExist') reqs.push({ key: e.key, operator: op, values: [] });
  }
  return reqs;
}

/** Equality on every key of a plain label map (matchLabels, a Service's spec.selector); {} matches everything. */
export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return Object.entries(selector).every(([k, v]) => l[k] === v);
}

/**
 * The Pods a Service selects for podlb. An empty selector selects none: podlb refuses a Service
 * without a selector (members/binding.ts), so it never registers or gates every Pod of a namespace.
 */
export function serviceSelects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>> | undefined): boolean {
  return Object.keys(selector).length > 0 && labelsMatch(selector, labels);
}

/** The first requirement that does not match, for "why not" messages; undefined when all match. */
export function firstUnmatched(sel: ParsedSelector, labels: Readonly<Record<string, string>> | undefined): Requirement | undefined {
  const l = labels ?? {};
  return sel.requirements.find((r) => !requirementMatches(r, l));
}

/** Kubernetes' string form (`a=b,c in (d,e),!f`), for messages. */
export function formatSelector(sel: ParsedSelector): string {
  if (sel.requirements.length === 0) return '<everything>';
  return sel.requirements.map(formatRequirement).join(',');
}

export function formatRequirement(r: AnyRequirement): string {
  switch (r.operator) {
    case 'In':
      return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
    case 'NotIn':
      return `${r.key} notin (${r.values.join(',')})`;
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
    case 'Gt':
      return `${r.key}>${r.value}`;
    case 'Lt':
      return `${r.key}<${r.value}`;
  }
}

/** Convenience for callers that want the shared error type with the object named. */
export function parseLabelSelectorFor(kind: string, name: string, raw: unknown, field: string): ParsedSelector {
  try {
    return parseLabelSelector(raw, field);
  } catch (err) {
    if (err instanceof LabelSelectorError) throw new InvalidObjectError(kind, name, err.field, err.message.slice(err.field.length + 2));
    throw err;
  }
}
