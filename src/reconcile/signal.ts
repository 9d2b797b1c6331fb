// A level-triggered signal (Cilium's channel of size 1): any number of notify() calls while a
// reconcile runs roll up into exactly one more run, and every run looks at the whole state.
// Timed wake-ups (poll intervals, drain windows, retries) use the same signal.
export class Signal {
  #pending = false;
  #waiter: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  notify(): void {
    this.#pending = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Notify at `at` (ms since epoch) unless an earlier wake-up is already set. */
  wakeAt(at: number, now = Date.now()): void {
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timerAt = Infinity;
        this.notify();
      },
      Math.max(0, at - now),
    );
  }

  /** Resolves once a notify happened since the last wait. */
  wait(): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#waiter = () => {
        this.#pending = false;
        resolve();
      };
    });
  }

  cancelTimer(): void {
    clearTimeout(this.#timer);
    this.#timerAt = Infinity;
  }
}
