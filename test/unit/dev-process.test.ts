// Stopping child processes, against real ones: a child already ended by a signal (exitCode null,
// signalCode set), one that ignores SIGTERM, one that exits on its own, and one that never
// started. None of them makes a stop wait forever.
import { spawn, type ChildProcess } from 'node:child_process';
import { exitOf, hasExited, pidAlive, stopChild } from '../../src/dev/process.js';

/** A node child that prints "up" once its handlers are in place. */
async function nodeChild(source: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `${source}; console.log('up')`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((r) => child.stdout!.once('data', r));
  return child;
}

const idle = 'setInterval(() => {}, 1000)';

describe('child processes', () => {
  it('a child killed by a signal from outside has ended, and stopping it returns at once', async () => {
    const child = await nodeChild(idle);
    process.kill(child.pid!, 'SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBe('SIGKILL');
    expect(hasExited(child)).toBe(true);
    // The exit event has fired already: both resolve without it.
    await exitOf(child);
    await expect(stopChild(child)).resolves.toBeNull();
    expect(pidAlive(child.pid!)).toBe(false);
  });

  it('a child that ignores SIGTERM is SIGKILLed after the bound', async () => {
    const child = await nodeChild(`process.on('SIGTERM', () => {}); ${idle}`);
    await expect(stopChild(child, { killAfterMs: 300 })).resolves.toBeNull();
    expect(child.signalCode).toBe('SIGKILL');
    expect(pidAlive(child.pid!)).toBe(false);
  });

  it('a child that ends on SIGTERM gets no SIGKILL, and its exit code is returned', async () => {
    const child = await nodeChild(`process.on('SIGTERM', () => process.exit(3)); ${idle}`);
    await expect(stopChild(child, { killAfterMs: 60_000 })).resolves.toBe(3);
    expect(child.signalCode).toBeNull();
  });

  it('sends the signal asked for', async () => {
    const child = await nodeChild(`process.on('SIGINT', () => process.exit(4)); ${idle}`);
    await expect(stopChild(child, { signal: 'SIGINT' })).resolves.toBe(4);
  });

  it('a child that never started is stopped at once', async () => {
    const child = spawn('/nonexistent/jfo-no-such-program', [], { stdio: 'ignore' });
    const failed = new Promise((r) => child.once('error', r));
    await exitOf(child);
    await expect(stopChild(child)).resolves.toBeNull();
    await failed;
  });

  it('pidAlive tells a running process from an ended one', async () => {
    const child = await nodeChild(idle);
    expect(pidAlive(child.pid!)).toBe(true);
    await stopChild(child);
    expect(pidAlive(child.pid!)).toBe(false);
  });
});
