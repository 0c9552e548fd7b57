import { WrittenStatus } from '../../src/controller/written.js';

describe('WrittenStatus', () => {
  it('answers with what was written while the cache still holds the replaced version', () => {
    const w = new WrittenStatus<string>();
    expect(w.effective('ns/a', '1', 'cached')).toBe('cached');
    w.remember('ns/a', '1', 'written');
    expect(w.effective('ns/a', '1', 'cached')).toBe('written');
    expect(w.effective('ns/b', '1', 'other')).toBe('other');
  });

  it('forgets it once the cache shows a newer version', () => {
    const w = new WrittenStatus<string>();
    w.remember('ns/a', '1', 'written');
    expect(w.effective('ns/a', '2', 'fresh')).toBe('fresh');
    expect(w.effective('ns/a', '1', 'stale again')).toBe('stale again');
  });

  it('forgets a deleted object', () => {
    const w = new WrittenStatus<string>();
    w.remember('ns/a', '1', 'written');
    w.forget('ns/a');
    expect(w.effective('ns/a', '1', 'cached')).toBe('cached');
  });
});
