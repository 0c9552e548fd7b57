// Whether a child process has ended, and how to stop one, for every place that stops processes in
// tests, benchmarks and the demo. A child that ended by a signal has `exitCode === null` and
// `signalCode` set, and its `exit` event has already fired: waiting for it again would wait
// forever. A child that never started (spawn failed) has no pid and never emits `exit`.
import type { ChildProcess } from 'node:child_process';

/** True once the child ended, by an exit code or by a signal. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when the child has ended: at once if it already has or never started. */
export function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (hasExited(child) || child.pid === undefined) return resolve();
    child.once('exit', () => resolve());
  });
}

export interface StopOptions {
  /** The first signal (default SIGTERM). */
  signal?: NodeJS.Signals;
  /** SIGKILL follows when the child has not ended this long after the first signal. */
  killAfterMs?: number;
}

/**
 * Stops the child: `signal` unless it has ended, SIGKILL if it is still running `killAfterMs`
 * later. Resolves once it has ended, with its exit code (null when a signal ended it); never
 * waits for an `exit` that already happened.
 */
export async function stopChild(
  child: ChildProcess,
  { signal = 'SIGTERM', killAfterMs = 10_000 }: StopOptions = {},
): Promise<number | null> {
  const exited = exitOf(child);
  if (!hasExited(child) && child.pid !== undefined) {
    child.kill(signal);
    const timer = setTimeout(() => {
      if (!hasExited(child)) child.kill('SIGKILL');
    }, killAfterMs);
    await exited;
    clearTimeout(timer);
  }
  return child.exitCode;
}

/** Whether a process with this pid exists (EPERM: it exists, as another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
