// Small helpers of the end-to-end stack and the demo.
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const ROOT = typeof __dirname === 'string' ? resolve(__dirname, '../..') : process.cwd();

/** Builds dist/ when it is missing or older than src/ (the pods run `node dist/cli.js`). */
export async function ensureDist(): Promise<void> {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  const cli = join(ROOT, 'dist', 'cli.js');
  if (existsSync(cli) && statSync(cli).mtimeMs >= newest(join(ROOT, 'src'))) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await execFileP(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT });
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
