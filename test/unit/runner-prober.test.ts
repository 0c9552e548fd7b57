// The prober's schedule with a manual clock and a fake SSH client whose channel opens take a
// fixed time: when probes are slower than the interval allows, no target waits for ever.
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Prober } from '../../src/runner/prober.js';
import type { SshSession } from '../../src/runner/session.js';

type OpenCallback = (err: Error | undefined, channel?: { on(): void; destroy(): void }) => void;

/** A session whose client answers every channel open after `latencyMs`. */
function slowSession(clock: FakeClock, latencyMs: number) {
  const opened: string[] = [];
  const client = {
    forwardOut(_ip: string, _port: number, host: string, _p: number, cb: OpenCallback) {
      opened.push(host);
      clock.setTimeout(() => cb(undefined, { on: () => {}, destroy: () => {} }), latencyMs);
    },
  };
  return { session: { client: () => client } as unknown as SshSession, opened };
}

describe('Prober schedule', () => {
  it.each([
    // targets, concurrency, interval, latency: the interval fits about 7 targets' probes.
    { targets: 40, concurrency: 2, intervalMs: 1000, latencyMs: 300 },
    { targets: 100, concurrency: 8, intervalMs: 2000, latencyMs: 250 },
  ])(
    'probes every one of $targets targets when probes are slower than the interval allows (concurrency $concurrency)',
    ({ targets, concurrency, intervalMs, latencyMs }) => {
      const clock = new FakeClock(1_000_000);
      const { session, opened } = slowSession(clock, latencyMs);
      const changed = new Set<string>();
      const prober = new Prober({
        session,
        clock,
        log: silentLogger(),
        intervalMs,
        timeoutMs: 5000,
        concurrency,
        random: () => 0.5,
        changed: (key) => changed.add(key),
      });
      prober.start();
      const all = Array.from({ length: targets }, (_, i) => `ns/s-${i}`);
      prober.update({
        set: Object.fromEntries(all.map((k, i) => [k, { host: `h-${i}`, port: 80 }])),
        removed: [],
      });
      // Long enough for every target's first probe at the rate the slots allow, twice over.
      const slotsMs = Math.ceil(targets / concurrency) * (latencyMs + 250);
      clock.advance(2 * slotsMs);
      prober.stop();
      expect(all.filter((k) => !changed.has(k))).toEqual([]);
      expect(all.filter((k) => prober.result(k) === undefined)).toEqual([]);
      // No target is probed twice before every target was probed once.
      const firstRound = opened.slice(0, targets);
      expect(new Set(firstRound).size).toBe(targets);
    },
  );

  it('probes a target added later before the ones already probed that are due again', () => {
    const clock = new FakeClock(0);
    const { session, opened } = slowSession(clock, 100);
    const prober = new Prober({
      session,
      clock,
      log: silentLogger(),
      intervalMs: 1000,
      timeoutMs: 5000,
      concurrency: 1,
      random: () => 0.5,
    });
    prober.start();
    const targets = Object.fromEntries(
      [0, 1, 2, 3, 4].map((i) => [`ns/old-${i}`, { host: `old-${i}`, port: 80 }]),
    );
    prober.update({ set: targets, removed: [] });
    // After three intervals, old targets are due again when the new one arrives.
    clock.advance(3000);
    const before = opened.length;
    prober.update({ set: { 'ns/new': { host: 'new', port: 80 } }, removed: [] });
    clock.advance(400);
    prober.stop();
    expect(opened.slice(before)[0]).toBe('new');
  });
});
