// resourceVersion texts and list continue tokens (which carry the resourceVersion the first
// page was read at), in the forms and with the messages of the real API server.
import { badRequest } from './errors.js';

export function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

export function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: string; rv?: number; start?: string };
    if (c.v !== 'meta.k8s.io/v1' || typeof c.rv !== 'number' || typeof c.start !== 'string') throw new Error('bad');
    return { rv: c.rv, start: c.start };
  } catch {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

export function parseRv(s: string, what = 'resourceVersion'): number {
  if (!/^\d+$/.test(s)) throw badRequest(`invalid ${what}: ${JSON.stringify(s)}`);
  return Number(s);
}
