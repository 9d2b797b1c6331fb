// BirdApplier's decisions against a scripted control (the real BIRD is in test/bgp-frr.test.ts).
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnreachableError } from '../util/errors.js';
import { BirdApplier, configHash } from './bird-apply.js';
import { BirdCommandError, type BirdControl, type BirdReply } from './bird-control.js';

let dir: string;
let configPath: string;
const calls: string[] = [];

const ok = (code: number, text: string): BirdReply => ({ code, text, lines: [{ code, text }], durationMs: 0.3 });

function fakeControl(opts: { check?: (file: string) => BirdReply; configure?: () => BirdReply } = {}): BirdControl {
  return {
    async configureCheck(file: string) {
      calls.push(`check ${file}`);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const text = readFileSync(file, 'utf8');
      if (text.includes('broken')) throw new BirdCommandError(`configure check "${file}"`, 8002, `${file}:3:1 syntax error, unexpected CF_SYM_UNDEFINED`);
      return opts.check ? opts.check(file) : ok(20, 'Configuration OK');
    },
    async configure() {
      calls.push('configure');
      return opts.configure ? opts.configure() : ok(3, 'Reconfigured');
    },
  } as unknown as BirdControl;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podlb-apply-'));
  configPath = join(dir, 'bird.conf');
  calls.length = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('BirdApplier', () => {
  it('checks a 0600 candidate, renames it over the config, configures', async () => {
    writeFileSync(configPath, 'old');
    const a = new BirdApplier({ control: fakeControl(), configPath });
    const r = await a.apply('new');
    expect(r).toMatchObject({ result: 'Applied', hash: configHash('new'), birdCode: 3 });
    expect(calls).toEqual([`check ${configPath}.podlb-candidate`, 'configure']);
    expect(readFileSync(configPath, 'utf8')).toBe('new');
    expect(existsSync(a.candidatePath)).toBe(false);
    expect(a.appliedHash).toBe(configHash('new'));
    // Every step is timed, and the steps account for the whole apply (bench reads them).
    expect(Object.keys(r.phasesMs).sort()).toEqual(['check', 'configure', 'replace', 'write']);
    const phases = Object.values(r.phasesMs).reduce((s, ms) => s + ms, 0);
    expect(phases).toBeLessThanOrEqual(r.durationMs);
    const unchanged = await a.apply('new');
    expect(unchanged.result).toBe('Unchanged');
    expect(unchanged.phasesMs).toEqual({});
    expect(calls).toHaveLength(2);
  });

  it('on a fresh start, the file on disk counts as applied', async () => {
    writeFileSync(configPath, 'running');
    const r = await new BirdApplier({ control: fakeControl(), configPath }).apply('running');
    expect(r.result).toBe('Unchanged');
    expect(calls).toEqual([]);
  });

  it('a refused candidate is removed; the old file stays', async () => {
    writeFileSync(configPath, 'old');
    const a = new BirdApplier({ control: fakeControl(), configPath });
    const r = await a.apply('broken');
    expect(r).toMatchObject({ result: 'Failed', birdCode: 8002, error: `${a.candidatePath}:3:1 syntax error, unexpected CF_SYM_UNDEFINED` });
    expect(r.transient).toBeUndefined();
    expect(readFileSync(configPath, 'utf8')).toBe('old');
    expect(existsSync(a.candidatePath)).toBe(false);
    expect(calls).toEqual([`check ${a.candidatePath}`]);
    expect(Object.keys(r.phasesMs)).toEqual(['write']);
  });

  it.each([
    ['in progress', 4, 'Reconfiguration in progress'],
    ['queued', 5, 'Reconfiguration already in progress, queueing new config'],
  ])('configure %s counts as applied', async (_n, code, text) => {
    const r = await new BirdApplier({ control: fakeControl({ configure: () => ok(code, text) }), configPath }).apply('x');
    expect(r).toMatchObject({ result: 'Applied', birdCode: code });
  });

  it('BIRD unreachable at configure: Failed, transient, and the same text is retried', async () => {
    let fail = true;
    const control = fakeControl({
      configure: () => {
        if (fail) throw new UnreachableError('BIRD_UNREACHABLE', 'BIRD control socket /x: ECONNREFUSED (is BIRD running?)');
        return ok(3, 'Reconfigured');
      },
    });
    const a = new BirdApplier({ control, configPath });
    expect(await a.apply('v2')).toMatchObject({ result: 'Failed', transient: true });
    // The file already holds v2, but BIRD never confirmed it: not Unchanged.
    fail = false;
    expect(await a.apply('v2')).toMatchObject({ result: 'Applied' });
  });

  it('serialises concurrent applies', async () => {
    const a = new BirdApplier({ control: fakeControl(), configPath });
    const rs = await Promise.all([a.apply('a'), a.apply('b'), a.apply('b')]);
    expect(rs.map((r) => r.result)).toEqual(['Applied', 'Applied', 'Unchanged']);
    expect(readFileSync(configPath, 'utf8')).toBe('b');
  });
});
