import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventToRecord } from '../kube/events.js';
import { UnreachableError } from '../util/errors.js';
import { ReconcileLoop, type ReconcileLoopOptions } from './loop.js';
import type { Reconciler, ReconcileResult } from './reconciler.js';

const log = pino({ level: 'silent' });

/** A reconciler whose next answers are scripted; it records the snapshots it saw. */
function scripted(
  name: string,
  answers: (() => ReconcileResult<string>)[],
  fallback: () => ReconcileResult<string> = () => ({}),
): Reconciler<number, string> & { seen: number[] } {
  const seen: number[] = [];
  return {
    name,
    seen,
    reconcile: async (snapshot) => {
      seen.push(snapshot);
      return (answers.shift() ?? fallback)();
    },
  };
}

const loops: ReconcileLoop<number, string>[] = [];
afterEach(async () => {
  for (const l of loops.splice(0)) await l.stop();
});

function makeLoop(o: Partial<ReconcileLoopOptions<number, string>> & Pick<ReconcileLoopOptions<number, string>, 'reconcilers'>): ReconcileLoop<number, string> {
  let n = 0;
  const loop = new ReconcileLoop<number, string>({ log, snapshot: () => ++n, random: () => 0.5, ...o });
  loops.push(loop);
  loop.start();
  return loop;
}

describe('ReconcileLoop', () => {
  it('a reconciler that throws does not skip the ones after it, and keeps its last status', async () => {
    const clock = { t: 1_000_000 };
    const failures: string[] = [];
    const bird = scripted('bird', [
      () => ({ status: 'bird ok' }),
      () => {
        throw new Error('render refused the model');
      },
    ]);
    const members = scripted('members', [], () => ({ status: 'members ok' }));
    const gates = scripted('gates', []);
    const loop = makeLoop({
      reconcilers: [bird, members, gates],
      now: () => clock.t,
      backoff: { baseMs: 1_000, maxMs: 8_000 },
      onFailure: (name, err) => failures.push(`${name}: ${err}`),
    });
    await loop.nextRun();
    const r = await loop.nextRun();
    expect(r!.runs.get('bird')).toEqual({ error: 'render refused the model' });
    expect(members.seen).toHaveLength(2);
    expect(gates.seen).toHaveLength(2);
    expect(failures).toEqual(['bird: render refused the model']);
    expect(loop.statusOf('bird')).toBe('bird ok');
    expect(loop.statusOf('members')).toBe('members ok');
  });

  it('retries a failed reconciler after backoff(), not at the next signal, and doubles the delay', async () => {
    const clock = { t: 1_000_000 };
    const bird = scripted('bird', [() => ({ failed: { error: 'socket missing' } }), () => ({ failed: { error: 'socket missing' } }), () => ({})]);
    const members = scripted('members', []);
    const loop = makeLoop({ reconcilers: [bird, members], now: () => clock.t, backoff: { baseMs: 10_000, maxMs: 60_000 } });
    const first = await loop.nextRun();
    expect(first!.runs.get('bird')).toMatchObject({ error: 'socket missing' });
    // random 0.5: no jitter, so the first retry is due at exactly baseMs.
    expect(first!.wakeAt).toBe(clock.t + 10_000);

    clock.t += 9_999;
    const early = await loop.nextRun();
    expect(early!.runs.get('bird')).toEqual({ skipped: 'backingOff' });
    expect(early!.runs.has('members')).toBe(true);
    expect(bird.seen).toHaveLength(1);

    clock.t += 1;
    const second = await loop.nextRun();
    expect(second!.runs.get('bird')).toMatchObject({ error: 'socket missing' });
    expect(second!.wakeAt).toBe(clock.t + 20_000);

    clock.t += 20_000;
    const third = await loop.nextRun();
    expect(third!.runs.get('bird')).toEqual({ result: {} });
    // Recovered: the next failure starts from the base delay again, and nothing is skipped.
    const fourth = await loop.nextRun();
    expect(fourth!.runs.get('bird')).toEqual({ result: {} });
    expect(bird.seen).toHaveLength(4);
  });

  it('records Events and problems of every reconciler, the failed one included', async () => {
    const recorded: EventToRecord[] = [];
    const object = { kind: 'PodLBNode', name: 'n1' };
    const a = scripted('a', [() => ({ events: [{ object, type: 'Normal', reason: 'BirdConfigApplied', message: 'm1' }] })]);
    const b = scripted('b', [
      () => ({ failed: { error: 'x' }, problems: [{ object, field: 'spec', reason: 'InvalidPeer', message: 'm2', severity: 'Warning' }] }),
    ]);
    const loop = makeLoop({ reconcilers: [a, b], record: (e) => void recorded.push(e) });
    await loop.nextRun();
    expect(recorded).toEqual([
      { object, type: 'Normal', reason: 'BirdConfigApplied', message: 'm1' },
      { object, type: 'Warning', reason: 'InvalidPeer', message: 'm2' },
    ]);
  });

  it('wakes itself at the earliest time a reconciler asked for', async () => {
    const t0 = Date.now();
    const a = scripted('a', [() => ({ nextWakeAt: Date.now() + 5_000 })]);
    const b = scripted('b', [() => ({ nextWakeAt: Date.now() + 40 })]);
    const loop = makeLoop({ reconcilers: [a, b], now: Date.now });
    await loop.nextRun();
    await new Promise((r) => setTimeout(r, 400));
    expect(b.seen.length).toBeGreaterThanOrEqual(2);
    expect(a.seen.length).toBeLessThan(5);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('runs nothing while the snapshot is not ready, and every reconciler once it is', async () => {
    let ready = false;
    const a = scripted('a', []);
    const loop = makeLoop({ reconcilers: [a], snapshot: () => (ready ? 7 : undefined) });
    const skipped = await loop.nextRun();
    expect(skipped!.runs.size).toBe(0);
    expect(a.seen).toEqual([]);
    ready = true;
    await loop.nextRun();
    expect(a.seen).toEqual([7]);
  });

  it('rolls a burst of signals into one run per wait', async () => {
    const a = scripted('a', []);
    const loop = makeLoop({ reconcilers: [a] });
    await loop.nextRun();
    const before = a.seen.length;
    for (let i = 0; i < 50; i++) loop.notify();
    await loop.nextRun();
    expect(a.seen.length - before).toBeLessThanOrEqual(2);
  });

  it('stop() lets the current run finish and answers waiters with undefined', async () => {
    let release!: () => void;
    const slow: Reconciler<number, string> = { name: 'slow', reconcile: () => new Promise((r) => (release = () => r({}))) };
    const loop = makeLoop({ reconcilers: [slow] });
    const inFlight = loop.nextRun();
    await new Promise((r) => setTimeout(r, 10));
    const stopped = loop.stop();
    release();
    await stopped;
    expect(await inFlight).toBeDefined();
    expect(await loop.nextRun()).toBeUndefined();
    expect(loop.running).toBe(false);
  });
  it('keeps turning when the Event recorder or the snapshot throws', async () => {
    const object = { kind: 'Pod', name: 'p' };
    let snapshotFails = true;
    let n = 0;
    const a = scripted('a', [], () => ({ events: [{ object, type: 'Normal', reason: 'R', message: 'm' }] }));
    const loop = makeLoop({
      reconcilers: [a],
      record: () => Promise.reject(new Error('events API down')),
      snapshot: () => {
        if (snapshotFails) throw new Error('cache torn');
        return ++n;
      },
    });
    const broken = await loop.nextRun();
    expect(broken!.runs.size).toBe(0);
    expect(broken!.wakeAt).toBeDefined();
    snapshotFails = false;
    await loop.nextRun();
    await loop.nextRun();
    expect(a.seen).toEqual([1, 2]);
    expect(loop.running).toBe(true);
  });

  it('logs a failure as the Error (type, message with its cause, code, stack) and hands its code to onFailure', async () => {
    const lines: Record<string, unknown>[] = [];
    const captured = pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    const refused = Object.assign(new Error('connect ECONNREFUSED /run/bird.ctl'), { code: 'ECONNREFUSED' });
    const bird = scripted('bird', [
      () => ({ failed: { error: 'BIRD is away', err: new UnreachableError('BIRD_UNREACHABLE', 'BIRD control socket', refused) } }),
    ]);
    const kernel = scripted('kernel', [
      () => {
        throw refused;
      },
    ]);
    const status = scripted('status', [() => ({ failed: { error: 'a stored reason, no Error' } })]);
    const failures: string[] = [];
    const loop = makeLoop({ log: captured, reconcilers: [bird, kernel, status], onFailure: (name, _error, code) => failures.push(`${name}: ${code}`) });
    await loop.nextRun();
    expect(failures).toEqual(['bird: BIRD_UNREACHABLE', 'kernel: ECONNREFUSED', 'status: Unknown']);

    const failed = (name: string) => lines.find((l) => l.reconciler === name && l.msg === 'reconcile failed; retrying with backoff')!;
    const birdErr = failed('bird').err as Record<string, unknown>;
    expect(birdErr).toMatchObject({
      type: 'UnreachableError',
      message: 'BIRD control socket: connect ECONNREFUSED /run/bird.ctl',
      code: 'BIRD_UNREACHABLE',
      transient: true,
    });
    expect(birdErr.stack).toMatch(/^UnreachableError: BIRD control socket\n[\s\S]*caused by: Error: connect ECONNREFUSED/);
    expect(failed('bird').code).toBe('BIRD_UNREACHABLE');
    const threw = lines.find((l) => l.reconciler === 'kernel' && l.msg === 'reconciler threw')!;
    expect(threw.err).toMatchObject({ type: 'Error', message: 'connect ECONNREFUSED /run/bird.ctl', code: 'ECONNREFUSED' });
    expect(threw.stack).toBeUndefined();
    // Only a string to hand: under `error`, so `err` always holds a serialized Error.
    expect(failed('status')).toMatchObject({ error: 'a stored reason, no Error', code: 'Unknown' });
    expect(failed('status').err).toBeUndefined();
  });
});
