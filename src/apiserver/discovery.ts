// Discovery as kubectl and client libraries read it: /version, /api, /apis and each group
// version's APIResourceList, from the resources the store serves.
import type { IncomingMessage } from 'node:http';
import type { Obj, ResourceType } from './resource-type.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '34',
  gitVersion: 'v1.34.0-podlb',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-08-27T00:00:00Z',
  goVersion: 'go1.24.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

const RESOURCE_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export function discovery(path: string, rts: readonly ResourceType[], req: IncomingMessage): unknown {
  if (path === '/version') return SERVER_VERSION;
  if (path === '/api') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [
        { clientCIDR: '0.0.0.0/0', serverAddress: req.socket.localAddress ? `${req.socket.localAddress}:${req.socket.localPort}` : '127.0.0.1' },
      ],
    };
  }
  const groups = new Map<string, string[]>();
  for (const rt of rts) {
    if (rt.group === '') continue;
    const vs = groups.get(rt.group) ?? [];
    if (!vs.includes(rt.version)) vs.push(rt.version);
    groups.set(rt.group, vs);
  }
  const groupObj = (g: string, vs: string[]): Obj => ({
    name: g,
    versions: vs.map((v) => ({ groupVersion: `${g}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${g}/${vs[0]}`, version: vs[0] },
  });
  if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([g, vs]) => groupObj(g, vs)) };
  const m = path.match(/^\/apis\/([^/]+)$/);
  if (m) {
    const vs = groups.get(m[1]!);
    if (!vs) return undefined;
    return { kind: 'APIGroup', apiVersion: 'v1', ...groupObj(m[1]!, vs) };
  }
  let gv: { group: string; version: string } | undefined;
  if (path === '/api/v1') gv = { group: '', version: 'v1' };
  const m2 = path.match(/^\/apis\/([^/]+)\/([^/]+)$/);
  if (m2) gv = { group: m2[1]!, version: m2[2]! };
  if (!gv) return undefined;
  const list = rts.filter((rt) => rt.group === gv.group && rt.version === gv.version);
  if (list.length === 0) return undefined;
  const resources: Obj[] = [];
  for (const rt of list) {
    const r: Obj = { name: rt.plural, singularName: rt.singular, namespaced: rt.namespaced, kind: rt.kind, verbs: RESOURCE_VERBS };
    if (rt.shortNames?.length) r.shortNames = rt.shortNames;
    if (rt.custom) r.categories = ['all', 'podlb'];
    resources.push(r);
    if (rt.statusSubresource)
      resources.push({ name: `${rt.plural}/status`, singularName: '', namespaced: rt.namespaced, kind: rt.kind, verbs: ['get', 'patch', 'update'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv.group === '' ? 'v1' : `${gv.group}/${gv.version}`, resources };
}
