// TypeMeta and ObjectMeta the server fills in on a write: apiVersion and kind checked against
// the endpoint and set, and metadata.generateName's random suffix.
import { randomBytes } from 'node:crypto';
import { badRequest } from './errors.js';
import { type Obj, type ResourceType, apiVersionOf } from './resource-type.js';

/** The alphabet of apimachinery's utilrand.String: no vowels, no look-alikes. */
const NAME_SUFFIX_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

export function checkTypeMeta(rt: ResourceType, o: Obj): void {
  const av = apiVersionOf(rt);
  if (o.apiVersion !== undefined && o.apiVersion !== '' && o.apiVersion !== av)
    throw badRequest(`the API version in the data (${o.apiVersion}) does not match the expected API version (${av})`);
  if (o.kind !== undefined && o.kind !== '' && o.kind !== rt.kind)
    throw badRequest(`the kind in the data (${o.kind}) does not match the expected kind (${rt.kind})`);
  o.apiVersion = av;
  o.kind = rt.kind;
}

/** `base` (cut to 58 characters) plus five random characters, a name `taken` does not know. */
export function generateName(base: string, taken: (name: string) => boolean): string {
  const b = base.length > 58 ? base.slice(0, 58) : base;
  for (;;) {
    const bytes = randomBytes(5);
    let s = '';
    for (const x of bytes) s += NAME_SUFFIX_CHARS[x % NAME_SUFFIX_CHARS.length];
    const name = b + s;
    if (!taken(name)) return name;
  }
}
