// Route add/delete events of a namespace's kernel (`ip monitor route`), timestamped on
// arrival: how the benches time "prefix in the ToR's FIB". Register a waiter before acting.
import type { SpawnedProcess } from '../src/lab/netns.js';

export class RouteMonitor {
  readonly #waiters: { dst: string; deleted: boolean; resolve: (t: number) => void }[] = [];
  #buf = '';

  constructor(proc: SpawnedProcess) {
    proc.child.stdout?.on('data', (d: Buffer) => {
      const now = performance.now();
      this.#buf += d.toString();
      for (let i = this.#buf.indexOf('\n'); i >= 0; i = this.#buf.indexOf('\n')) {
        const line = this.#buf.slice(0, i).trim();
        this.#buf = this.#buf.slice(i + 1);
        const deleted = line.startsWith('Deleted ');
        const dst = (deleted ? line.slice(8) : line).split(' ')[0]!;
        for (let k = this.#waiters.length - 1; k >= 0; k--) {
          const w = this.#waiters[k]!;
          if (w.dst === dst && w.deleted === deleted) {
            this.#waiters.splice(k, 1);
            w.resolve(now);
          }
        }
      }
    });
  }

  /** Resolves with the arrival time of the next matching event. */
  next(dst: string, deleted: boolean, timeoutMs = 15_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${deleted ? 'delete' : 'add'} of ${dst} at the ToR within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({
        dst,
        deleted,
        resolve: (at) => {
          clearTimeout(t);
          resolve(at);
        },
      });
    });
  }
}
