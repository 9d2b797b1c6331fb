// Small helpers shared by the configuration parsers (config.ts, peer-config.ts): raw objects
// are untyped until parsed, so every access is checked.
import { API_VERSION } from '../api/types.js';
import { problem, type ObjectRef, type Problem } from '../api/problem.js';
import { LabelSelectorError, parseLabelSelector, type ParsedSelector } from '../util/label-selector.js';

export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
export const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Object names as given when they are strings (the API server guarantees it; a YAML file does not). */
export const nameOf = (o: unknown): string => {
  const n = isMap(o) && isMap(o.metadata) ? o.metadata.name : undefined;
  return typeof n === 'string' && n !== '' ? n : '<unnamed>';
};
export const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function ref(kind: string, name: string | undefined, apiVersion = API_VERSION): ObjectRef {
  return { apiVersion, kind, name: name ?? '<unnamed>' };
}

/** A raw value for a message: strings cut at 64 characters, JSON-quoted. */
export function safeDisplay(raw: unknown): string {
  return JSON.stringify(typeof raw === 'string' ? raw.slice(0, 64) : raw) ?? String(raw);
}

/** spec.nodeSelector parsed, or the problem (`reason`) that says why it does not parse. */
export function parseSelector(
  raw: unknown,
  obj: ObjectRef,
  reason: string,
): { selector: ParsedSelector; error?: undefined } | { selector?: undefined; error: LabelSelectorError; problem: Problem } {
  try {
    return { selector: parseLabelSelector(raw, 'spec.nodeSelector') };
  } catch (err) {
    if (!(err instanceof LabelSelectorError)) throw err;
    return { error: err, problem: problem(obj, err.field, reason, `${obj.kind} ${obj.name}: ${err.message}`) };
  }
}
