/**
 * The one bounded poll of the test suites, for states that no event announces (a watch reaching
 * another replica, a port opening, an election finishing). Everything that has an event awaits it.
 */

/** Polls `cond` every 25 ms until it returns a truthy value; throws after `timeoutMs`. */
export async function until<T>(cond: () => Promise<T> | T, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
