// The informer cache lags behind our own writes: a reconcile that runs right after a status
// write may still see the old status, and would write (and record Events) a second time. This
// remembers what was written per key until the cache shows a newer version of the object.
export class WrittenStatus<S> {
  private readonly entries = new Map<string, { before: string | undefined; status: S }>();

  /** The status to compare with: ours while the cache still holds the version we replaced. */
  effective(key: string, cachedVersion: string | undefined, cached: S): S {
    const e = this.entries.get(key);
    if (!e) return cached;
    if (e.before === cachedVersion) return e.status;
    this.entries.delete(key);
    return cached;
  }

  remember(key: string, replacedVersion: string | undefined, status: S): void {
    this.entries.set(key, { before: replacedVersion, status });
  }

  forget(key: string): void {
    this.entries.delete(key);
  }
}
