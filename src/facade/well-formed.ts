// Well-formed Unicode at ingest: JSON may carry `\ud800`, a lone UTF-16 surrogate that no UTF-8
// encoder can write. The API server refuses such a string with a decoding error, so the facade
// refuses it first, for the one request that carries it. Pure.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const isWellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

/**
 * Where in `value` (a parsed JSON value, or query or path parameters) the first string, key or
 * value, is not well-formed: a path like `labels.app` or `(key) labels.…`; undefined when all are.
 */
export function malformedAt(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return isWellFormed(value) ? undefined : path || '(the value)';
  if (value === null || typeof value !== 'object') return undefined;
  const entries = Array.isArray(value)
    ? value.map((v, i) => [String(i), v] as const)
    : Object.entries(value as Record<string, unknown>);
  for (const [k, v] of entries) {
    const at = path ? `${path}.${k}` : k;
    if (!isWellFormed(k)) return `a key in ${path || 'the body'}`;
    const inner = malformedAt(v, at);
    if (inner) return inner;
  }
  return undefined;
}
