import { backoffDelay, reconnectPolicy, refusedPolicy } from '../../src/runner/backoff.js';

describe('backoffDelay', () => {
  const policy = { initialMs: 1000, maxMs: 30_000 };
  it.each([
    // failures, random, delay: the cap doubles per failure and is jittered into [cap/2, cap].
    [1, 0, 500],
    [1, 1, 1000],
    [2, 0.5, 1500],
    [3, 1, 4000],
    [5, 1, 16_000],
    [6, 1, 30_000],
    [100, 0, 15_000],
    [0, 1, 1000],
  ])('after %d failure(s) with random %d waits %d ms', (failures, r, delay) => {
    expect(backoffDelay(failures, policy, () => r)).toBe(delay);
  });
});

describe('reconnectPolicy', () => {
  it.each([
    // The cap never exceeds the keepalive bound, nor the configured maximum.
    [1000, 30_000, { intervalMs: 10_000, countMax: 3 }, 30_000],
    [1000, 30_000, { intervalMs: 1000, countMax: 3 }, 3000],
    [1000, 10_000, { intervalMs: 60_000, countMax: 5 }, 10_000],
    // ... but is never below the first delay.
    [5000, 30_000, { intervalMs: 1000, countMax: 1 }, 5000],
  ])('initial %d, max %d, keepalive %j: cap %d', (initialMs, maxMs, keepalive, cap) => {
    expect(reconnectPolicy(initialMs, maxMs, keepalive)).toEqual({ initialMs, maxMs: cap });
  });
});

describe('refusedPolicy', () => {
  it.each([
    // While the port refuses, the delay stays short whatever was configured ...
    [
      { initialMs: 1000, maxMs: 30_000 },
      { initialMs: 250, maxMs: 500 },
    ],
    [
      { initialMs: 5000, maxMs: 5000 },
      { initialMs: 250, maxMs: 500 },
    ],
    // ... and is never longer than the normal policy.
    [
      { initialMs: 100, maxMs: 300 },
      { initialMs: 100, maxMs: 300 },
    ],
    [
      { initialMs: 50, maxMs: 50 },
      { initialMs: 25, maxMs: 50 },
    ],
  ])('%j while refused: %j', (policy, expected) => {
    expect(refusedPolicy(policy)).toEqual(expected);
  });
});
