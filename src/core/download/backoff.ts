export interface BackoffPolicy {
  /** Upper bound of the first delay. */
  baseMs: number;
  /** No delay is longer, whatever the attempt or the server's Retry-After. */
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (0 for the first retry): exponential with full jitter, so a
 * fleet that failed together does not retry together, and never shorter than the server's
 * Retry-After.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * Math.pow(2, Math.min(attempt, 30)));
  let delay = Math.floor(random() * ceiling);
  if (retryAfterMs !== undefined && retryAfterMs > delay) delay = retryAfterMs;
  return Math.min(delay, policy.maxMs);
}
