// Patches of keyed collections: what the runner's control plane and data plane send each other
// (dataplane-protocol.ts) and what the forwarding components apply. A leaf module.

/** Entries to set and keys to delete. */
export interface Patch<T> {
  set: Record<string, T>;
  removed: string[];
}

/**
 * The change of a keyed collection since it was last seen: `sent` holds each key's value as last
 * sent (serialized), `read(key)` its value now (undefined: gone). Compares only `keys`; updates
 * `sent` to the values returned in the patch.
 */
export function diffKeys<T>(
  sent: Map<string, string>,
  keys: Iterable<string>,
  read: (key: string) => T | undefined,
): Patch<T> {
  const patch: Patch<T> = { set: {}, removed: [] };
  for (const key of keys) {
    const value = read(key);
    if (value === undefined) {
      if (sent.delete(key)) patch.removed.push(key);
      continue;
    }
    const text = JSON.stringify(value);
    if (sent.get(key) === text) continue;
    sent.set(key, text);
    patch.set[key] = value;
  }
  return patch;
}

/** Whether a patch changes nothing. */
export const emptyPatch = (p: Patch<unknown>): boolean =>
  p.removed.length === 0 && Object.keys(p.set).length === 0;

/** Applies a patch to a record in place. */
export function applyPatch<T>(target: Record<string, T>, p: Patch<T>): void {
  for (const k of p.removed) delete target[k];
  Object.assign(target, p.set);
}
