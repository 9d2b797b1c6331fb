import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isTmpfs } from './tmpfs.js';

describe('isTmpfs', () => {
  it('tells tmpfs from other file systems, and says nothing about a missing path', () => {
    // /proc is procfs and /dev/shm is tmpfs on every Linux this runs on (CI is Debian).
    expect(isTmpfs('/proc')).toBe(false);
    expect(isTmpfs('/dev/shm')).toBe(true);
    const dir = mkdtempSync(join('/dev/shm', 'podlb-tmpfs-'));
    try {
      expect(isTmpfs(dir)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(isTmpfs('/nonexistent/podlb')).toBeUndefined();
  });
});
