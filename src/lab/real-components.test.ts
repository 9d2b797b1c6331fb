import { describe, expect, it } from 'vitest';
import { missingReal, runWithout } from './real-components.js';

describe('runWithout', () => {
  it.each<[string, string[], NodeJS.ProcessEnv, boolean | RegExp]>([
    ['everything here: run', [], {}, true],
    ['everything here, required: run', [], { PODLB_REQUIRE_REAL: '1' }, true],
    ['bird missing on a laptop: skip', ['bird (BIRD 2): apt-get install'], {}, false],
    ['bird missing, PODLB_REQUIRE_REAL=0: skip', ['bird (BIRD 2): apt-get install'], { PODLB_REQUIRE_REAL: '0' }, false],
    [
      'bird missing in CI: the suite fails, naming it',
      ['bird (BIRD 2): apt-get install'],
      { PODLB_REQUIRE_REAL: '1' },
      /PODLB_REQUIRE_REAL=1 and this suite would be skipped; missing:\n {2}- bird \(BIRD 2\)/,
    ],
  ])('%s', (_name, missing, env, want) => {
    if (want instanceof RegExp) expect(() => runWithout(missing, env)).toThrow(want);
    else expect(runWithout(missing, env)).toBe(want);
  });
});

describe('missingReal', () => {
  it('names only what is missing, with how to install it', () => {
    // Each entry is present or not on this machine; either way the message says how to get it.
    for (const m of missingReal(['bird', 'birdcl', 'haproxy', 'frr', 'nft'])) expect(m).toMatch(/apt-get install/);
    expect(missingReal([])).toEqual([]);
    expect(missingReal(['root'])).toEqual(process.getuid?.() === 0 ? [] : [expect.stringMatching(/^root/)]);
  });
});
