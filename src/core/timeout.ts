/**
 * Runs `task` with a signal that aborts after `timeoutMs`, and answers by then either way:
 * the abort stops tasks that honour it, the race covers those that ignore it. On time-out
 * the answer is `onTimeout()` (which may throw). A timer of our own, not
 * `AbortSignal.timeout`: see callProvider.
 */
export async function withTimeout<T>(task: (signal: AbortSignal) => Promise<T>, timeoutMs: number, onTimeout: () => T): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort(new Error('timed out'));
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, timeoutMs);
  });
  const running = Promise.resolve().then(() => task(controller.signal));
  try {
    return await Promise.race([running, timeout]);
  } finally {
    clearTimeout(timer);
    running.catch(() => {});
  }
}
