/** How {@link withTimeout} ends a task that runs too long. */
export interface TimeoutOptions {
  /** The abort reason the task's signal carries. Default `new Error('timed out')`. */
  reason?: Error;
  /** A caller's signal: when it aborts, the task's signal aborts with its reason. */
  signal?: AbortSignal;
}

/**
 * Runs `task` with a signal that aborts after `timeoutMs` (or when `options.signal` aborts).
 * With `onTimeout`, it answers by then either way: the abort stops tasks that honour it, the
 * race covers those that ignore it, and the answer is `onTimeout()` (which may throw). Without
 * it, the task answers for itself once aborted (a `fetch` rejects). The timer is cleared
 * when the task ends, and a task that fails after the answer fails unheard.
 *
 * The one timer of the package (the core's sends and checks, each provider call, each Redis
 * command). Our own `setTimeout`, not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`:
 * on Node 20 the timeout inside such a composite can be garbage-collected before it fires
 * (nodejs/node#57736), and a provider that hangs would then hang the send or the check.
 */
export async function withTimeout<T>(
  task: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  onTimeout?: () => T,
  options: TimeoutOptions = {},
): Promise<T> {
  const controller = new AbortController();
  const caller = options.signal;
  const follow = () => controller.abort(caller?.reason);
  if (caller?.aborted) follow();
  else caller?.addEventListener('abort', follow, { once: true });
  const abort = () => controller.abort(options.reason ?? new Error('timed out'));
  const running = Promise.resolve().then(() => task(controller.signal));
  try {
    if (onTimeout) {
      return await raceTimeout(running, timeoutMs, () => {
        abort();
        return onTimeout();
      });
    }
    // The task answers for itself once aborted (a `fetch` rejects).
    return await raceTimeout(running, timeoutMs, () => {
      abort();
      return running;
    });
  } finally {
    caller?.removeEventListener('abort', follow);
  }
}

/**
 * `operation`'s answer, or `onTimeout()`'s (which may throw) once `timeoutMs` passed first:
 * the timer behind {@link withTimeout}, alone for a task that takes no signal (a Redis
 * command: no AbortController on every call). The timer is cleared when the operation ends,
 * and an operation that fails after the answer fails unheard.
 */
export async function raceTimeout<T>(operation: Promise<T>, timeoutMs: number, onTimeout: () => T | Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, timeoutMs);
  });
  try {
    return await Promise.race([operation, timeout]);
  } finally {
    clearTimeout(timer);
    operation.catch(() => {});
  }
}
