// Events and Secrets: validation, and stringData folded into data as the API server does.
import { type FieldError, forbiddenField, invalid, notSupported } from '../errors.js';
import { deepEqual } from '../patch.js';
import type { Obj } from '../resource-type.js';

export function validateEvent(e: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const io = e.involvedObject ?? {};
  const ns = e.metadata?.namespace ?? '';
  if (!io.namespace) {
    if (ns !== '' && ns !== 'default') errs.push(invalid('involvedObject.namespace', io.namespace ?? '', 'does not match event.namespace'));
  } else if (io.namespace !== ns) errs.push(invalid('involvedObject.namespace', io.namespace, 'does not match event.namespace'));
  if (e.type !== undefined && e.type !== '' && !['Normal', 'Warning'].includes(e.type)) errs.push(notSupported('type', e.type, ['Normal', 'Warning']));
  return errs;
}

export function normalizeSecret(s: Obj): void {
  s.type ??= 'Opaque';
  if (s.stringData && typeof s.stringData === 'object') {
    s.data ??= {};
    for (const [k, v] of Object.entries(s.stringData)) s.data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    delete s.stringData;
  }
}

export function validateSecret(s: Obj): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries((s.data ?? {}) as Obj)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(k)) errs.push(invalid('data', k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0)
      errs.push(invalid(`data[${k}]`, '<secret contents redacted>', 'illegal base64 data'));
  }
  return errs;
}

export function validateSecretUpdate(s: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if ((s.type ?? 'Opaque') !== (old.type ?? 'Opaque')) errs.push(invalid('type', s.type, 'field is immutable'));
  if (old.immutable === true && (!deepEqual(s.data ?? {}, old.data ?? {}) || s.immutable !== true))
    errs.push(forbiddenField('data', 'field is immutable when `immutable` is set'));
  return errs;
}
