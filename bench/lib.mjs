// What the benchmark scripts share: command-line options, logging to stderr, and child processes
// whose output is kept and which are killed when the benchmark exits. Free ports come from
// dist/dev/control-plane.js (freePort), the same helper the tests use.
import { spawn } from 'node:child_process';

/** `--name N` as a number, or `fallback`. */
export const numberArg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** `--name text`, or undefined. */
export const textArg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};

export const log = (msg) => process.stderr.write(`${msg}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = [];

/** Starts a process; its stdout and stderr accumulate in `child.output`. */
export function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  child.output = '';
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  children.push(child);
  return child;
}

/** SIGKILLs every process start() made that is still running (also runs on exit). */
export function stopAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', stopAll);
