/** Polls cond until it holds; throws "timed out waiting for <what>" after timeoutMs. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition", pollMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
