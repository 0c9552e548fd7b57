import { RestartTracker } from '../../src/runner/restart.js';

describe('RestartTracker', () => {
  it('handles a value present at start-up with the first connection', () => {
    const r = new RestartTracker();
    expect(r.observe('t1', undefined)).toBe('none');
    expect(r.handled()).toBeUndefined();
    r.connected();
    expect(r.handled()).toBe('t1');
  });

  it('does not re-handle a value the status already echoes', () => {
    const r = new RestartTracker();
    expect(r.observe('t1', 't1')).toBe('none');
    r.connected();
    expect(r.handled()).toBeUndefined();
  });

  it('asks for a reconnect on every new value, and marks it handled once connected', () => {
    const r = new RestartTracker();
    r.observe(undefined, undefined);
    expect(r.observe(undefined, undefined)).toBe('none');
    expect(r.observe('t2', undefined)).toBe('reconnect');
    expect(r.handled()).toBeUndefined();
    r.connected();
    expect(r.handled()).toBe('t2');
    expect(r.observe('t2', 't2')).toBe('none');
    expect(r.observe('t3', 't2')).toBe('reconnect');
    // Removing the annotation is not a restart request.
    r.connected();
    expect(r.observe(undefined, 't3')).toBe('none');
    expect(r.handled()).toBe('t3');
  });

  describe('a request that the current connections already satisfy', () => {
    const at = Date.parse('2026-12-06T22:41:21.550Z');
    const value = '2026-12-06T22:41:21.550Z';
    const started = () => {
      const r = new RestartTracker();
      r.observe(undefined, undefined);
      return r;
    };
    const connected = (since: number) => ({ phase: 'connected' as const, connectedSince: since });

    it('is handled without a reconnect when every connection is newer', () => {
      const r = started();
      expect(r.observe(value, undefined, [connected(at), connected(at + 900)])).toBe('handled');
      expect(r.handled()).toBe(value);
      expect(r.observe(value, value, [connected(at)])).toBe('none');
    });

    it.each([
      ['one connection is older', [connected(at + 5), connected(at - 1)]],
      ['one connection is down', [connected(at + 5), { phase: 'waiting' as const }]],
      ['there is no connection', []],
    ])('asks for a reconnect when %s', (_why, sessions) => {
      const r = started();
      expect(r.observe(value, undefined, sessions)).toBe('reconnect');
      expect(r.handled()).toBeUndefined();
    });

    it('asks for a reconnect when the value is not a time', () => {
      const r = started();
      expect(r.observe('please', undefined, [connected(at)])).toBe('reconnect');
    });
  });

  it('check() marks a pending request handled once every connection is newer', () => {
    const r = new RestartTracker();
    r.observe(undefined, undefined);
    const value = '2026-12-06T22:41:21.550Z';
    const at = Date.parse(value);
    expect(r.observe(value, undefined, [{ phase: 'waiting' }])).toBe('reconnect');
    r.check([{ phase: 'connected', connectedSince: at - 1 }]);
    expect(r.handled()).toBeUndefined();
    r.check([{ phase: 'connected', connectedSince: at + 10 }]);
    expect(r.handled()).toBe(value);
  });
});
