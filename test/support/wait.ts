/** Waiting in tests: a wait that runs out fails, saying what it waited for. */

/**
 * Resolves once `check()` is true (a throw counts as not yet); rejects with
 * "gave up after N ms waiting for WHAT" when `limitMs` passes first.
 */
export function until(check: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      let ok = false;
      try {
        ok = check();
      } catch {
        ok = false;
      }
      if (ok) resolve();
      else if (Date.now() > deadline)
        reject(new Error(`gave up after ${limitMs} ms waiting for ${what}`));
      else setTimeout(poll, 5);
    };
    poll();
  });
}

/** `promise`, or a rejection naming `what` once `limitMs` passes first. */
export async function within<T>(promise: Promise<T>, what: string, limitMs = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`gave up after ${limitMs} ms waiting for ${what}`)),
      limitMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
