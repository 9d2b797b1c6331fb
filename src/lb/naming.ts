// Member names encode the owning node so that every agent can list, adopt and
// garbage-collect exactly its own members after a restart and never touch another node's.
// Node names are DNS subdomains ([a-z0-9.-]), so `_` cannot occur in them and is a safe
// separator; HAProxy accepts [A-Za-z0-9_.:-] in server names, which covers IPv6 too.

const PREFIX = 'podlb_';

export function memberNamePrefix(nodeName: string): string {
  return `${PREFIX}${nodeName}_`;
}

export function memberName(nodeName: string, address: string, port: number): string {
  return `${memberNamePrefix(nodeName)}${address}_${port}`;
}

/** Inverse of memberName; undefined for names podlb did not make. */
export function parseMemberName(name: string): { node: string; address: string; port: number } | undefined {
  const m = /^podlb_([a-z0-9.-]+)_([0-9a-fA-F.:]+)_(\d{1,5})$/.exec(name);
  if (!m) return undefined;
  return { node: m[1]!, address: m[2]!, port: Number(m[3]) };
}
