import { RestartTracker } from '../../src/runner/restart.js';

const value = '2026-12-06T22:41:21.550Z';
const at = Date.parse(value);
const connected = (since: number) => ({ phase: 'connected' as const, connectedSince: since });
/** A tracker that has seen the JumpNode without the annotation. */
const started = () => {
  const r = new RestartTracker();
  expect(r.observe(undefined, undefined, at - 60_000)).toBeUndefined();
  return r;
};

describe('RestartTracker', () => {
  it('handles a value present at start-up with the first connection, sending no request', () => {
    const r = new RestartTracker();
    expect(r.observe(value, undefined, at + 60_000)).toBeUndefined();
    expect(r.check([])).toBe(false);
    expect(r.handled()).toBeUndefined();
    expect(r.check([connected(at + 60_500)])).toBe(true);
    expect(r.handled()).toBe(value);
    expect(r.check([connected(at + 60_500)])).toBe(false);
  });

  it('does not re-handle a value the status already echoes', () => {
    const r = new RestartTracker();
    expect(r.observe(value, value, at + 60_000)).toBeUndefined();
    expect(r.check([connected(at + 60_500)])).toBe(false);
    expect(r.handled()).toBeUndefined();
  });

  it('sends every new value to the data plane with the time it names', () => {
    const r = started();
    expect(r.observe(undefined, undefined, at)).toBeUndefined();
    expect(r.observe(value, undefined, at + 100)).toEqual({ value, notBefore: at });
    expect(r.observe(value, undefined, at + 200)).toBeUndefined();
    const later = '2026-12-06T22:50:00.000Z';
    expect(r.observe(later, undefined, at + 300)).toEqual({
      value: later,
      notBefore: Date.parse(later),
    });
    // Removing the annotation is not a restart request.
    expect(r.observe(undefined, undefined, at + 400)).toBeUndefined();
  });

  it('sends the request even when its own snapshot shows newer connections', () => {
    // The data plane alone decides to keep them; the main thread's snapshot may lag.
    const r = started();
    expect(r.observe(value, undefined, at + 900)).toEqual({ value, notBefore: at });
  });

  it('uses the time it saw a value that is not a time', () => {
    const r = started();
    expect(r.observe('please', undefined, at)).toEqual({ value: 'please', notBefore: at });
    expect(r.check([connected(at - 1)])).toBe(false);
    expect(r.check([connected(at)])).toBe(true);
    expect(r.handled()).toBe('please');
  });

  it('is handled only once every connection is up and made at or after the request', () => {
    const r = started();
    r.observe(value, undefined, at + 50);
    for (const sessions of [
      [],
      [connected(at - 1)],
      [connected(at + 5), connected(at - 1)],
      [connected(at + 5), { phase: 'waiting' as const }],
      [connected(at + 5), { phase: 'connected' as const }],
    ]) {
      expect(r.check(sessions)).toBe(false);
      expect(r.handled()).toBeUndefined();
    }
    expect(r.check([connected(at), connected(at + 900)])).toBe(true);
    expect(r.handled()).toBe(value);
    // Echoed by the status, the same value is no new request.
    expect(r.observe(value, value, at + 1000)).toBeUndefined();
  });

  it('counts a reconnect made after it saw the value when the named time is ahead of its clock', () => {
    // The facade's clock is ahead of the runner's: the reconnect is older than the value's time.
    const r = started();
    expect(r.observe(value, undefined, at - 2000)).toEqual({ value, notBefore: at });
    expect(r.check([connected(at - 2001)])).toBe(false);
    expect(r.check([connected(at - 1500)])).toBe(true);
    expect(r.handled()).toBe(value);
  });

  it('forgets a pending value once a newer one arrives', () => {
    const r = started();
    r.observe(value, undefined, at);
    const later = '2026-12-06T22:50:00.000Z';
    r.observe(later, undefined, Date.parse(later));
    expect(r.check([connected(at + 10)])).toBe(false);
    expect(r.check([connected(Date.parse(later))])).toBe(true);
    expect(r.handled()).toBe(later);
  });
});
