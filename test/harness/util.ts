// Small helpers of the end-to-end stack and the demo.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { exitOf, hasExited, stopChild } from '../../src/dev/process.js';

const execFileP = promisify(execFile);
const ROOT = typeof __dirname === 'string' ? resolve(__dirname, '../..') : process.cwd();

/** The CLI the process tests, the test kubelet's pods and the demo run (`node dist/cli.js`). */
export const CLI = join(ROOT, 'dist', 'cli.js');

/**
 * Builds dist/ when it is missing or older than src/ (`npm test` builds before jest, so then
 * nothing is rebuilt under other tests' feet). Type errors do not stop the emit; a missing CLI
 * after the build does, with the compiler's output.
 */
export async function ensureDist(): Promise<void> {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newest(join(ROOT, 'src'))) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const out = await execFileP(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
  }).then(
    () => '',
    (err: { stdout?: string }) => String(err.stdout ?? err),
  );
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing after the build:\n${out}`);
}

export interface CliProcess {
  child: ChildProcess;
  /** The process's JSON log lines (stdout and stderr) so far. */
  lines: Array<Record<string, unknown>>;
  /** Resolves with the exit code (null when a signal ended the process). */
  exited: Promise<number | null>;
  running(): boolean;
  /** `signal` unless the process has ended, SIGKILL after a bound; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs `node dist/cli.js ...args` (after `wrapper`, e.g. prlimit and its options) from the
 * repository root with PATH and `env` only; `tee` gets every chunk of output as it arrives.
 */
export function spawnCli(
  args: string[],
  env: Record<string, string>,
  { wrapper = [], tee }: { wrapper?: string[]; tee?: (chunk: Buffer) => void } = {},
): CliProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const argv = [...wrapper, process.execPath, CLI, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = collectJsonLines(child, tee);
  const exited = exitOf(child).then(() => child.exitCode);
  return {
    child,
    lines,
    exited,
    running: () => !hasExited(child),
    stop: (signal = 'SIGTERM') => stopChild(child, { signal }),
  };
}

/**
 * Polls until `fn` returns a value (not undefined/false); `what` names it in the timeout error,
 * with the error of the last attempt if it threw.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Collects a child's stdout and stderr as parsed JSON log lines (a line that is not JSON becomes
 * `{ level: 'raw', message }`); `tee` gets every chunk as it arrives.
 */
export function collectJsonLines(
  child: ChildProcess,
  tee?: (chunk: Buffer) => void,
): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  const onData = (d: Buffer) => {
    tee?.(d);
    partial += d.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts) {
      if (!p.trim()) continue;
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        lines.push({ level: 'raw', message: p });
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return lines;
}
