// Reading settings from the environment, shared by the operator, runner and facade configs.
// Durations: a variable is named `*_SECONDS` and read with seconds(); inside the process every
// duration is a number of milliseconds in a field or parameter named `*Ms`.
// Each getter returns a value (the fallback when the variable is unset, empty or invalid) and
// records a problem for an invalid value, so a config module can report every problem at once:
// `if (r.problems.length) throw new Error(...)`. Pure: the environment is an argument.
export type Env = Record<string, string | undefined>;

export class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  private raw(name: string): string | undefined {
    const v = this.env[name]?.trim();
    return v ? v : undefined;
  }

  required(name: string, what = 'is required'): string {
    const v = this.raw(name);
    if (!v) this.problems.push(`${name} ${what}`);
    return v ?? '';
  }

  optional(name: string): string | undefined {
    return this.raw(name);
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || n < min || n > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  }

  /** A duration in seconds (decimals allowed), returned in milliseconds. */
  seconds(name: string, fallbackSeconds: number, min: number, max: number): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallbackSeconds * 1000;
    const n = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || n < min || n > max) {
      this.problems.push(
        `${name} must be a number of seconds from ${min} to ${max} (got "${raw}")`,
      );
      return fallbackSeconds * 1000;
    }
    return Math.round(n * 1000);
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.raw(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    this.problems.push(`${name} must be true or false (got "${this.raw(name)}")`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T;
  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined;
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback?: T): T | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
      return fallback;
    }
    return raw as T;
  }

  /** Throws one Error listing every problem, if there are any. */
  check(component: string): void {
    if (this.problems.length)
      throw new Error(`Invalid ${component} configuration: ${this.problems.join('; ')}`);
  }
}

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
