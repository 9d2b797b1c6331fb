// Whether a path lives on tmpfs. bird.conf belongs there (daemonset/: a hostPath under /run):
// BGP passwords never reach a disk, and swapping in a new config never waits for writeback,
// which on ext4 cost 35-170 ms at p99 per apply (bench hostRouteApply_replace).
import { statfsSync } from 'node:fs';

const TMPFS_MAGIC = 0x01021994;

/** undefined when the path cannot be inspected (it does not exist yet, say). */
export function isTmpfs(path: string): boolean | undefined {
  try {
    return statfsSync(path).type === TMPFS_MAGIC;
  } catch {
    return undefined;
  }
}
