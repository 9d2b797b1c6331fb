// Parsing and validation of request bodies and queries, with the Octavia API's 400 messages.
import type http from 'node:http';
import { isIP } from 'node:net';
import { FakeApiError, type FakeMember, type MemberInput } from './state.js';

export const RESERVED_QUERY = new Set([
  'limit',
  'marker',
  'page_reverse',
  'sort',
  'sort_key',
  'sort_dir',
  'fields',
  'tags',
  'tags-any',
  'not-tags',
  'not-tags-any',
]);
export const MEMBER_POST_KEYS = new Set([
  'name',
  'address',
  'protocol_port',
  'weight',
  'admin_state_up',
  'backup',
  'subnet_id',
  'monitor_address',
  'monitor_port',
  'tags',
  'project_id',
]);
export const MEMBER_PUT_KEYS = new Set(['name', 'weight', 'admin_state_up', 'backup', 'monitor_address', 'monitor_port', 'tags']);

export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new FakeApiError(400, 'The request body is not valid JSON.');
  }
}

/** Keystone writes microseconds: 2026-11-22T10:00:00.000000Z. */
export function keystoneTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function pick<T extends object>(obj: T, query: URLSearchParams): Partial<T> {
  const fields = query
    .getAll('fields')
    .flatMap((f) => f.split(','))
    .filter(Boolean);
  if (fields.length === 0) return obj;
  return Object.fromEntries(Object.entries(obj).filter(([k]) => fields.includes(k))) as Partial<T>;
}

export function validateMemberFields(m: Record<string, unknown>): Partial<FakeMember> {
  const bad = (field: string, value: unknown, why: string): never => {
    throw new FakeApiError(400, `Invalid input for field/attribute ${field}. Value: '${String(value)}'. ${why}`);
  };
  const out: Partial<FakeMember> = {};
  if ('name' in m) {
    if ((typeof m.name === 'string' && m.name.length <= 255) || m.name === null) out.name = (m.name as string | null) ?? '';
    else bad('name', m.name, 'Value should have a maximum character requirement of 255');
  }
  if ('weight' in m) {
    if (Number.isInteger(m.weight) && (m.weight as number) >= 0 && (m.weight as number) <= 256) out.weight = m.weight as number;
    else bad('weight', m.weight, 'Value should be lower or equal to 256');
  }
  if ('admin_state_up' in m) {
    if (typeof m.admin_state_up === 'boolean') out.admin_state_up = m.admin_state_up;
    else bad('admin_state_up', m.admin_state_up, 'Wrong type. Expected bool');
  }
  if ('backup' in m) {
    if (typeof m.backup === 'boolean') out.backup = m.backup;
    else bad('backup', m.backup, 'Wrong type. Expected bool');
  }
  if ('tags' in m) {
    if (Array.isArray(m.tags) && m.tags.every((t) => typeof t === 'string' && t.length <= 255)) out.tags = [...(m.tags as string[])];
    else bad('tags', m.tags, 'Wrong type. Expected list of strings of at most 255 characters');
  }
  if ('monitor_address' in m) {
    if (m.monitor_address === null || (typeof m.monitor_address === 'string' && isIP(m.monitor_address)))
      out.monitor_address = m.monitor_address as string | null;
    else bad('monitor_address', m.monitor_address, 'Value should be IPv4 or IPv6 format');
  }
  if ('monitor_port' in m) {
    if (m.monitor_port === null || (Number.isInteger(m.monitor_port) && (m.monitor_port as number) >= 1 && (m.monitor_port as number) <= 65535))
      out.monitor_port = m.monitor_port as number | null;
    else bad('monitor_port', m.monitor_port, 'Value should be between 1 and 65535');
  }
  return out;
}

export function parseMember(body: unknown, key: string, allowed: Set<string>, create: boolean): MemberInput {
  const m = (body as Record<string, unknown> | null)?.[key] as Record<string, unknown> | undefined;
  if (!m || typeof m !== 'object') throw new FakeApiError(400, `Invalid input for field/attribute ${key}. Value: 'None'. Mandatory field missing.`);
  for (const k of Object.keys(m))
    if (!allowed.has(k)) throw new FakeApiError(400, `Invalid input for field/attribute ${key}. Unknown attribute for argument ${key}_: ${k}`);
  if (create) {
    if (typeof m.address !== 'string' || !isIP(m.address))
      throw new FakeApiError(400, `Invalid input for field/attribute address. Value: '${String(m.address)}'. Value should be IPv4 or IPv6 format`);
    if (!Number.isInteger(m.protocol_port) || (m.protocol_port as number) < 1 || (m.protocol_port as number) > 65535)
      throw new FakeApiError(400, `Invalid input for field/attribute protocol_port. Value: '${String(m.protocol_port)}'. Value should be between 1 and 65535`);
  }
  const rest = validateMemberFields(m);
  return {
    address: m.address as string,
    protocol_port: m.protocol_port as number,
    ...rest,
    ...(typeof m.subnet_id === 'string' ? { subnet_id: m.subnet_id } : {}),
  } as MemberInput;
}
