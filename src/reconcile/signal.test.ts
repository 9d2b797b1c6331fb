import { describe, expect, it } from 'vitest';
import { Signal } from './signal.js';

describe('Signal', () => {
  it('rolls a burst of notifies into one run', async () => {
    const s = new Signal();
    for (let i = 0; i < 100; i++) s.notify();
    await s.wait();
    let woke = false;
    void s.wait().then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(false);
    s.notify();
    await new Promise((r) => setTimeout(r, 0));
    expect(woke).toBe(true);
  });

  it('keeps only the earliest timed wake-up', async () => {
    const s = new Signal();
    const t0 = Date.now();
    s.wakeAt(t0 + 5000, t0);
    s.wakeAt(t0 + 30, t0);
    s.wakeAt(t0 + 4000, t0);
    await s.wait();
    expect(Date.now() - t0).toBeLessThan(1000);
    s.cancelTimer();
  });
});
