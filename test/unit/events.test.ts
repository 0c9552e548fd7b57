import { appendCapped, eventBytes } from '../../src/resources/events.js';

describe('appendCapped', () => {
  it('appends in order while under the caps', () => {
    const r = appendCapped([{ progress: 10 }], 0, [{ progress: 20 }, { progress: 30 }]);
    expect(r).toEqual({
      events: [{ progress: 10 }, { progress: 20 }, { progress: 30 }],
      dropped: 0,
    });
  });

  it('drops the oldest beyond the count cap and counts them', () => {
    const existing = Array.from({ length: 5 }, (_, i) => ({ progress: i }));
    const r = appendCapped(existing, 7, [{ progress: 99 }], { maxCount: 3, maxBytes: 1e9 });
    expect(r.events.map((e) => e.progress)).toEqual([3, 4, 99]);
    expect(r.dropped).toBe(10);
  });

  it('drops the oldest beyond the byte cap', () => {
    const big = { message: 'x'.repeat(1000) };
    const r = appendCapped([big, big, big], 0, [{ progress: 1 }], {
      maxCount: 100,
      maxBytes: 2100,
    });
    expect(r.events.length).toBe(3);
    expect(r.events.reduce((n, e) => n + eventBytes(e), 0)).toBeLessThanOrEqual(2100);
    expect(r.dropped).toBe(1);
  });

  it('always keeps the newest event, even when it alone exceeds the byte cap', () => {
    const r = appendCapped([{ progress: 1 }], 0, [{ message: 'y'.repeat(500) }], {
      maxCount: 10,
      maxBytes: 100,
    });
    expect(r.events).toEqual([{ message: 'y'.repeat(500) }]);
    expect(r.dropped).toBe(1);
  });

  it('counts multi-byte characters as bytes, not characters', () => {
    expect(eventBytes({ message: 'ü' })).toBe(JSON.stringify({ message: 'x' }).length + 1);
  });
});
