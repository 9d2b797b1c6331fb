// Reading request bodies (JSON, YAML) with the API server's decode errors, and resetting a
// connection the way a crashed server does.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { badRequest, unsupportedMediaType } from './errors.js';

/**
 * A TCP reset, what a crashed server or a dropped LB connection looks like to a client. A plain
 * destroy() of a TLS socket reads as a clean end of the stream on the other side.
 */
export function resetConnection(s: Socket | null): void {
  if (!s) return;
  const raw = (s as Socket & { _parent?: Socket })._parent ?? s;
  if (typeof raw.resetAndDestroy === 'function' && raw.readyState !== 'closed') {
    try {
      raw.resetAndDestroy();
    } catch {
      /* already closed */
    }
  }
  s.destroy();
}

export async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  await readText(req);
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`error decoding patch: ${(e as Error).message}`);
  }
}

export async function readBody(req: IncomingMessage): Promise<unknown> {
  const ct = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
  const text = await readText(req);
  if (ct === 'application/json' || ct === '' || ct === '*/*') {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
    }
  }
  if (ct === 'application/yaml') {
    try {
      return parseYaml(text);
    } catch (e) {
      throw badRequest(`error converting YAML to JSON: ${(e as Error).message}`);
    }
  }
  throw unsupportedMediaType(ct, ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']);
}
