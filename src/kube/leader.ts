// Lease-based leader election (coordination.k8s.io/v1), after client-go's leaderelection:
//   - every retryPeriod a candidate reads the Lease and tries to acquire or renew it with an
//     update that carries the read resourceVersion (compare-and-swap: 409 means someone else won);
//   - a Lease held by another identity is taken over only when its record has not changed for
//     leaseDuration, measured on this process's own clock from when it observed the change (no
//     comparison of clocks across machines);
//   - a leader that has not renewed for renewDeadline (< leaseDuration) stops leading before any
//     other candidate may take over, and keeps competing: when the API server comes back it
//     becomes leader again without a restart;
//   - close() releases the Lease (holder emptied) so a successor takes over at once.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { microTime } from '../resources/conditions.js';
import { apiMessage, apiStatus, isConflict, isNotFound } from './client.js';

export interface LeaderElectionOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  clock?: Clock;
  log: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export interface LeaderElector {
  isLeader(): boolean;
  close(): Promise<void>;
}

export function defaultIdentity(podName?: string): string {
  return podName || `${hostname()}_${randomUUID().slice(0, 8)}`;
}

export function startLeaderElection(opts: LeaderElectionOptions): LeaderElector {
  const clock = opts.clock ?? systemClock;
  const leaseMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryMs = opts.retryPeriodMs ?? 2_000;
  const { api, namespace, name, identity, log } = opts;
  let leading = false;
  let closed = false;
  let lastRenew = 0;
  let observed: { record: string; at: number } | undefined;
  let timer: unknown;
  let inFlight: Promise<void> = Promise.resolve();

  const spec = (prev: V1Lease | undefined, now: number) => {
    const mine = prev?.spec?.holderIdentity === identity;
    return {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseMs / 1000),
      acquireTime: mine ? prev!.spec!.acquireTime : (microTime(now) as unknown as Date),
      renewTime: microTime(now) as unknown as Date,
      leaseTransitions: (prev?.spec?.leaseTransitions ?? 0) + (mine || !prev ? 0 : 1),
    };
  };

  /** One acquire-or-renew attempt; true when this process holds the Lease afterwards. */
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const now = clock.now();
    let lease: V1Lease | undefined;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!lease) {
      const body = { metadata: { name, namespace }, spec: spec(undefined, now) };
      await api.createNamespacedLease({ namespace, body });
      return true;
    }
    const holder = lease.spec?.holderIdentity;
    const record = JSON.stringify([holder, lease.spec?.renewTime, lease.metadata?.resourceVersion]);
    if (observed?.record !== record) observed = { record, at: now };
    const duration = (lease.spec?.leaseDurationSeconds ?? leaseMs / 1000) * 1000;
    if (holder && holder !== identity && observed.at + duration > now) return false;
    const body = { ...lease, spec: spec(lease, now) };
    await api.replaceNamespacedLease({ name, namespace, body });
    return true;
  };

  const transition = (next: boolean) => {
    if (next === leading) return;
    leading = next;
    log.info(next ? 'Started leading' : 'Stopped leading', { namespace, name, identity });
    if (next) opts.onStartedLeading();
    else opts.onStoppedLeading();
  };

  let lastError = '';
  const tick = async () => {
    let held = false;
    try {
      held = await tryAcquireOrRenew();
      lastError = '';
    } catch (err) {
      // A lost race (409) is routine; anything else (RBAC, network) is logged once per change.
      const msg = isConflict(err) ? '' : describe(err);
      if (msg && msg !== lastError)
        log.warn('Failed to acquire or renew Lease', { namespace, name, error: msg });
      lastError = msg;
    }
    if (closed) return;
    if (held) {
      lastRenew = clock.now();
      transition(true);
    } else checkDeadline();
  };

  /** Also runs on its own timer: an attempt may hang while the API server is unreachable. */
  const checkDeadline = () => {
    if (leading && clock.now() - lastRenew > renewDeadlineMs) transition(false);
  };
  const deadlineTimer = clock.setInterval(checkDeadline, Math.max(100, retryMs / 2));

  const schedule = () => {
    if (closed) return;
    // Jitter keeps candidates that started together from colliding on every attempt.
    const delay = leading ? retryMs : retryMs * (1 + Math.random() * 0.2);
    timer = clock.setTimeout(() => {
      inFlight = tick().finally(schedule);
    }, delay);
  };

  inFlight = tick().finally(schedule);

  return {
    isLeader: () => leading && clock.now() - lastRenew <= renewDeadlineMs,
    async close() {
      closed = true;
      clock.clearTimeout(timer);
      clock.clearInterval(deadlineTimer);
      await inFlight.catch(() => {});
      if (!leading) return;
      leading = false;
      opts.onStoppedLeading();
      try {
        const lease = await api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return;
        const spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 };
        await api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } });
        log.info('Released Lease', { namespace, name, identity });
      } catch (err) {
        log.warn('Failed to release Lease', { namespace, name, error: describe(err) });
      }
    },
  };
}

function describe(err: unknown): string {
  const status = apiStatus(err);
  return status ? `${status}: ${apiMessage(err)}` : apiMessage(err);
}
