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
});
