// Whether a child process has ended, for every place that stops processes in tests, benchmarks
// and the demo. A child that ended by a signal has `exitCode === null` and `signalCode` set, and
// its `exit` event has already fired: waiting for it again would wait forever.
import type { ChildProcess } from 'node:child_process';

/** True once the child ended, by an exit code or by a signal. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when the child has ended: at once if it already has. */
export function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (hasExited(child)) return resolve();
    child.once('exit', () => resolve());
  });
}
