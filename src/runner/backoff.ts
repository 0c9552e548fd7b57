// Reconnect delays: capped exponential backoff with jitter. Pure (randomness is injected).

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/**
 * Delay before attempt number `failures + 1`, for `failures >= 1` consecutive failures: the cap
 * min(maxMs, initialMs * 2^(failures-1)), jittered uniformly into [cap/2, cap] so that many
 * runners that lost the same jump node do not come back in lock-step (sshd's MaxStartups drops
 * excess unauthenticated connections).
 */
export function backoffDelay(
  failures: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(failures));
  const cap = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(n - 1, 30));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/**
 * The reconnect cap for a jump node: never longer than the keepalive bound (interval x countMax),
 * so a restarted jump node is found again within the time a dead one is detected in.
 */
export function reconnectPolicy(
  initialMs: number,
  maxMs: number,
  keepalive: { intervalMs: number; countMax: number },
): BackoffPolicy {
  const bound = keepalive.intervalMs * keepalive.countMax;
  const cap = Math.max(initialMs, Math.min(maxMs, bound));
  return { initialMs, maxMs: cap };
}

/**
 * The retry policy while attempts never reach sshd (ECONNREFUSED: the host is up and sshd is not
 * listening, as during its restart; EHOSTUNREACH/ENETUNREACH: the host or its network is not back
 * yet). Such an attempt costs sshd nothing (it never sees it), so the runner keeps retrying every
 * 125–500 ms instead of backing off: the connection comes back within half a second of sshd, not
 * after a doubled delay. Never slower than `policy`.
 */
export const REFUSED_RETRY_MAX_MS = 500;

export function refusedPolicy(policy: BackoffPolicy): BackoffPolicy {
  const maxMs = Math.min(policy.maxMs, REFUSED_RETRY_MAX_MS);
  return { initialMs: Math.min(policy.initialMs, maxMs / 2), maxMs };
}
