// The real components the lab and the real-component suites need, found in one place. A suite
// that cannot run without one skips where it is missing (a developer's laptop); with
// PODLB_REQUIRE_REAL=1 (CI, .ci/run) a missing one fails the suite instead, so CI never
// passes by skipping what it was meant to test.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export type RealComponent = 'root' | 'bird' | 'birdcl' | 'haproxy' | 'frr' | 'nft';

const INSTALL = 'apt-get install -y bird2 frr haproxy iproute2 (scripts/setup.sh does)';

function onPath(cmd: string, fallback: string): boolean {
  return existsSync(fallback) || spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const CHECKS: Record<RealComponent, { present: () => boolean; missing: string }> = {
  root: { present: () => process.getuid?.() === 0, missing: 'root (network namespaces): run as root, e.g. sudo' },
  bird: { present: () => onPath('bird', '/usr/sbin/bird'), missing: `bird (BIRD 2): ${INSTALL}` },
  birdcl: { present: () => onPath('birdcl', '/usr/sbin/birdcl'), missing: `birdcl (BIRD 2): ${INSTALL}` },
  haproxy: { present: () => onPath('haproxy', '/usr/sbin/haproxy'), missing: `haproxy: ${INSTALL}` },
  frr: {
    present: () => ['/usr/lib/frr/bgpd', '/usr/lib/frr/zebra'].every((f) => existsSync(f)) && onPath('vtysh', '/usr/bin/vtysh'),
    missing: `FRR (/usr/lib/frr/bgpd, zebra, vtysh): ${INSTALL}`,
  },
  // The lab's kube-proxy stand-in (src/lab/kube-proxy.ts).
  nft: { present: () => onPath('nft', '/usr/sbin/nft'), missing: 'nft (nftables): apt-get install -y nftables (scripts/setup.sh does)' },
};

/** What of `what` is missing, as messages saying how to get it. */
export function missingReal(what: readonly RealComponent[]): string[] {
  return what.filter((w) => !CHECKS[w].present()).map((w) => CHECKS[w].missing);
}

/**
 * For `it.runIf(hasReal('bird'))`: true when every component is here; false when one is
 * missing, unless PODLB_REQUIRE_REAL=1, where it throws and the suite fails naming it.
 */
export function hasReal(...what: RealComponent[]): boolean {
  return runWithout(missingReal(what), process.env);
}

/** hasReal's decision, given what is missing. */
export function runWithout(missing: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (missing.length === 0) return true;
  if (env.PODLB_REQUIRE_REAL === '1')
    throw new Error(`PODLB_REQUIRE_REAL=1 and this suite would be skipped; missing:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
  return false;
}
