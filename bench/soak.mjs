#!/usr/bin/env node
// Soak: the whole system (bench/system.mjs: control plane, two operator replicas, the facade,
// two runner replicas, sshd as the jump node, a compute node) under continuous spawn/stop churn
// through the facade's spawner API, while a fault injector keeps breaking things, and an
// invariant checker keeps asking whether the system still tells the truth. Not part of
// `npm test`; bounded in time.
//
// Churn: sessions start at --rate per second. Each is one of
//   spawn:  PUT (no target), POST events, setuptunnel, wait for Ready, use it through its port,
//           hold, check the events, DELETE;
//   cancel: PUT, POST events, cancel, wait for Cancelled, check the events, DELETE;
//   abandon: PUT, setuptunnel, DELETE at once.
// A request that finds the facade down (connection refused) or gets 503 is retried.
//
// Faults, one at a time at random intervals, round-robin over a shuffled list of kinds:
//   operator-leader  SIGKILL the operator replica holding the Lease (the pod is then restarted)
//   runner-replica   SIGKILL one runner replica (restarted)
//   facade           SIGKILL the facade (restarted on the same port)
//   sshd             kill sshd and its sessions, start it again 1-5 s later
//   apiserver        restart kube-apiserver (same etcd)
//   jumpnode-restart GET /api/recreateforward/hpc (the restart annotation)
// After each fault the injector waits until the system has converged (below), records how long
// that took, then waits a random interval before the next fault.
//
// Invariants (violations are printed and counted; the exit code is 1 if there is any):
//   ready-answers   a server whose phase is Ready answers through its runner port on every
//                   ready runner replica, or stops being Ready, within the probe interval
//   no-orphans      no Service, port claim (Lease) or runner listener without a server, for
//                   longer than --orphan-grace seconds
//   unique-ports    no two servers of the JumpNode have the same status.runnerPort
//   final-phase     every server reaches its final phase (Ready, or Cancelled when cancelled)
//                   within --final-bound seconds after its target/cancel or the last fault
//   facade-answers  the facade answers only 2xx/4xx, and 503 only while the API server is down
//                   (restart until ready + --api-grace seconds)
//   events-kept     every event the facade accepted with a 2xx is in the server's events
//
// Converged (after a fault): every component answers /readyz, every runner replica is ready,
// every server whose target or cancel is older than the fault is in its final phase, every
// Ready server has answered on every ready runner replica since the fault ended (one probe that
// times out on a loaded machine is not a forward that did not come back; one that never answers
// is), and nothing has been orphaned for more than 15 s
// (the churn deletes servers all the time; their objects take a moment to go).
//
// Usage: npm run build && node bench/soak.mjs [--minutes 15] [--rate 0.5] [--seed N]
//          [--fault-min 15] [--fault-max 45] [--final-bound 90] [--orphan-grace 60]
//          [--api-grace 5] [--faults operator-leader,sshd,...] [--logs DIR]
// Prints progress on stderr and the summary on stdout.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { log, numberArg, sleep, textArg } from './lib.mjs';
import { harness, startSystem } from './system.mjs';

const { TreeRecorder, processTree, survivors, namespacesOf } = harness.leaks;

const execFileP = promisify(execFile);
const MINUTES = numberArg('minutes', 15);
const RATE = numberArg('rate', 0.5);
const FAULT_MIN_S = numberArg('fault-min', 15);
const FAULT_MAX_S = numberArg('fault-max', 45);
const FINAL_BOUND_MS = numberArg('final-bound', 90) * 1000;
const ORPHAN_GRACE_MS = numberArg('orphan-grace', 60) * 1000;
const API_GRACE_MS = numberArg('api-grace', 5) * 1000;
const CONVERGE_LIMIT_MS = numberArg('converge-limit', 180) * 1000;
const CHECK_EVERY_MS = 5000;
const ORPHAN_SETTLE_MS = 15_000;
const PROBE_INTERVAL_MS = 30_000; // the runner's default JFO_PROBE_INTERVAL_SECONDS
const HOLD_S = [5, 30];
let seed = numberArg('seed', Date.now() % 1_000_000);
const SEED = seed;
const ALL_FAULT_KINDS = [
  'operator-leader',
  'runner-replica',
  'facade',
  'sshd',
  'apiserver',
  'jumpnode-restart',
];
const FAULT_KINDS = textArg('faults')?.split(',') ?? ALL_FAULT_KINDS;
for (const k of FAULT_KINDS)
  if (!ALL_FAULT_KINDS.includes(k))
    throw new Error(`--faults: unknown fault kind ${k} (known: ${ALL_FAULT_KINDS.join(', ')})`);

/** Deterministic random numbers (mulberry32), so a seed repeats a run's choices. */
function random() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (a, b) => a + (b - a) * random();
const shuffled = (xs) =>
  xs
    .map((x) => [random(), x])
    .sort((a, b) => a[0] - b[0])
    .map((p) => p[1]);
const now = () => Date.now();
const quantile = (xs, q) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

// ------------------------------------------------------------------------------------------
// Records

const violations = [];
function violation(invariant, detail) {
  violations.push({ at: new Date().toISOString(), invariant, detail });
  log(`VIOLATION ${invariant}: ${detail}`);
}
const faults = []; // { kind, at, detail, convergedMs }
const apiDown = []; // [start, end|undefined]
let lastFaultEnd = 0;
const statusCounts = new Map();
const refused = { count: 0 };
const checked = { rounds: 0, readyProbes: 0, answered: 0, listeners: 0, orphansSeen: 0 };
const sessions = { spawn: 0, cancel: 0, abandon: 0, ready: 0, cancelled: 0, failed: 0, errors: 0 };

function apiWasDown(t) {
  return apiDown.some(([a, b]) => t >= a && t <= (b ?? Infinity) + API_GRACE_MS);
}

// ------------------------------------------------------------------------------------------
// The facade's spawner API, with retries while it is down or the API server is

let sys;
let stopping = false;

async function facade(method, path, { body, token, ok = [200, 201, 202, 204], deadline } = {}) {
  for (;;) {
    const started = now();
    let res;
    try {
      res = await fetch(`${sys.facadeUrl}${path}`, {
        method,
        headers: {
          Authorization: `token ${token ?? sys.tokens.spawner}`,
          ...(body ? { 'Content-Type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000),
      });
    } catch {
      refused.count++; // facade down (restarting): not an answer
      if (deadline && now() > deadline) throw new Error(`${method} ${path}: facade unreachable`);
      await sleep(500);
      continue;
    }
    const text = await res.text();
    statusCounts.set(res.status, (statusCounts.get(res.status) ?? 0) + 1);
    if (res.status >= 500 && res.status !== 503)
      violation('facade-answers', `${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
    if (res.status === 503) {
      if (!apiWasDown(started) && !apiWasDown(now()))
        violation(
          'facade-answers',
          `${method} ${path} -> 503 while the API server was up: ${text.slice(0, 300)}`,
        );
      if (deadline && now() > deadline) throw new Error(`${method} ${path}: 503 until deadline`);
      await sleep(500);
      continue;
    }
    if (!ok.includes(res.status))
      throw new Error(`${method} ${path} -> ${res.status} ${text.slice(0, 300)}`);
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }
}

/** Through the runner port on `host`: true if the target answered. */
async function answers(host, port) {
  try {
    const res = await fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(3000) });
    const body = await res.json();
    return res.ok && body.target === 'compute';
  } catch {
    return false;
  }
}

/** Runner replicas whose /readyz answers 200 (the Service's endpoints). */
async function readyRunners() {
  const out = [];
  for (const r of sys.runners) {
    if (!sys.alive(r)) continue;
    const ok = await fetch(`http://127.0.0.1:${r.pod.httpPort}/readyz`, {
      signal: AbortSignal.timeout(2000),
    }).then(
      (x) => x.ok,
      () => false,
    );
    if (ok) out.push(r);
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Churn

/** Server names the churn expects to be in a final phase: name -> { final, since }. */
const expected = new Map();
let nextUser = 0;
const live = new Set();

async function session(kind) {
  const user = `soak${nextUser++}`;
  const startId = `s-${user}`;
  const base = `/api/forwardedservers/${user}`;
  const target = sys.targets[Math.floor(random() * sys.targets.length)];
  const accepted = [];
  sessions[kind]++;
  const postEvent = async (i) => {
    const message = `${user} step ${i}`;
    const r = await facade('POST', `/api/users/progress/events/${user}?start_id=${startId}`, {
      body: { progress: 10 * (i + 1), message },
    });
    if (r.status >= 200 && r.status < 300) accepted.push(message);
  };
  await facade('PUT', base, { body: { userId: nextUser, startId, jumpNode: 'hpc' } });
  let name;
  try {
    if (kind === 'abandon') {
      await facade('POST', `/api/users/setuptunnel/${user}?start_id=${startId}`, {
        body: { service: `${target.host}:${target.port}` },
      });
      return;
    }
    for (let i = 0; i < 3; i++) await postEvent(i);
    if (kind === 'cancel') {
      await facade('POST', `${base}/cancel`);
      name = await waitFinal(user, 'Cancelled');
      if (name) sessions.cancelled++;
    } else {
      await facade('POST', `/api/users/setuptunnel/${user}?start_id=${startId}`, {
        body: { service: `${target.host}:${target.port}` },
      });
      const view = await waitFinal(user, 'Ready');
      if (view) {
        sessions.ready++;
        await sleep(between(...HOLD_S) * 1000);
      }
    }
    await checkEvents(user, accepted);
  } finally {
    expected.delete(user);
    await facade('DELETE', base, { ok: [204, 404] }).catch((e) =>
      log(`${user}: DELETE failed: ${e.message}`),
    );
  }
}

/** Waits until the server's phase is `final`, within FINAL_BOUND_MS of its request or a fault. */
async function waitFinal(user, final) {
  const since = now();
  expected.set(user, { final, since });
  for (;;) {
    const { json } = await facade('GET', `/api/forwardedservers/${user}`);
    if (json.phase === final) return json;
    if (json.phase === 'Failed' || (final === 'Ready' && json.phase === 'Cancelled')) {
      sessions.failed++;
      violation('final-phase', `${user}: phase ${json.phase} instead of ${final}`);
      return undefined;
    }
    if (now() - Math.max(since, lastFaultEnd) > FINAL_BOUND_MS) {
      sessions.failed++;
      violation(
        'final-phase',
        `${user}: still ${json.phase} ${((now() - since) / 1000).toFixed(0)} s after its request, ${((now() - lastFaultEnd) / 1000).toFixed(0)} s after the last fault; conditions ${JSON.stringify(json.conditions?.map((c) => [c.type, c.status, c.reason]))}; ${describeQueue(await operatorQueue().catch(() => undefined))}`,
      );
      return undefined;
    }
    if (stopping && now() - since > FINAL_BOUND_MS) return undefined;
    await sleep(1000);
  }
}

/**
 * The leading operator's ForwardedServer work queue, from its /metrics: whether a server that is
 * late was waiting behind other keys (lag) or no key was queued at all (a lost event).
 */
const queueStats = { samples: 0, maxDepth: 0, depthSum: 0, last: undefined };
async function operatorQueue() {
  for (const p of sys.operators) {
    if (!sys.alive(p)) continue;
    const text = await fetch(`http://127.0.0.1:${p.pod.httpPort}/metrics`, {
      signal: AbortSignal.timeout(2000),
    }).then(
      (x) => (x.ok ? x.text() : ''),
      () => '',
    );
    const metric = (name, labels = '') => {
      const re = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')}\\s+(\\S+)$`, 'm');
      const m = re.exec(text);
      return m ? Number(m[1]) : undefined;
    };
    if (metric('jfo_operator_leader') !== 1) continue;
    const fs = '{controller="ForwardedServer"}';
    const reconciles = [
      ...text.matchAll(
        /^jfo_operator_reconcile_total\{controller="ForwardedServer",result="[^"]+"\} (\S+)$/gm,
      ),
    ].reduce((a, m) => a + Number(m[1]), 0);
    return {
      at: now(),
      replica: p.name,
      depth: metric('jfo_operator_workqueue_depth', fs),
      delayed: metric('jfo_operator_workqueue_delayed', fs),
      inFlight: metric('jfo_operator_workqueue_in_flight', fs),
      reconciles,
      seconds: metric('jfo_operator_reconcile_duration_seconds_sum', fs),
    };
  }
  return undefined;
}

function describeQueue(q) {
  if (!q) return 'no leading operator answered /metrics';
  const prev = queueStats.prev;
  const rate =
    prev && prev.replica === q.replica && q.at > prev.at
      ? `, ${(((q.reconciles - prev.reconciles) * 1000) / (q.at - prev.at)).toFixed(1)} reconciles/s lately`
      : '';
  return `leader ${q.replica}: ForwardedServer queue ${q.depth} waiting, ${q.inFlight} in flight, ${q.delayed} delayed; ${q.reconciles} reconciles, mean ${((q.seconds ?? 0) / Math.max(1, q.reconciles)).toFixed(2)} s${rate}`;
}

async function sampleQueue() {
  const q = await operatorQueue().catch(() => undefined);
  if (!q) return;
  queueStats.samples++;
  queueStats.depthSum += q.depth ?? 0;
  queueStats.maxDepth = Math.max(queueStats.maxDepth, q.depth ?? 0);
  queueStats.prev = queueStats.last;
  queueStats.last = q;
}

async function checkEvents(user, accepted) {
  const { json } = await facade('GET', `/api/forwardedservers/${user}`);
  const have = new Set((json.events ?? []).map((e) => e.message));
  const lost = accepted.filter((m) => !have.has(m));
  if (lost.length)
    violation(
      'events-kept',
      `${user}: accepted with 2xx but missing: ${JSON.stringify(lost)} (have ${JSON.stringify([...have])}, dropped ${json.eventsDropped})`,
    );
}

async function churn(end) {
  const kinds = [
    'spawn',
    'spawn',
    'spawn',
    'spawn',
    'spawn',
    'spawn',
    'cancel',
    'cancel',
    'abandon',
  ];
  while (now() < end.at) {
    const kind = kinds[Math.floor(random() * kinds.length)];
    const p = session(kind).catch((e) => {
      sessions.errors++;
      log(`session (${kind}) ended with an error: ${e.message}`);
    });
    live.add(p);
    void p.finally(() => live.delete(p));
    await sleep(1000 / RATE);
  }
  await Promise.all([...live]);
}

// ------------------------------------------------------------------------------------------
// Invariant checker

const suspects = new Map(); // `${uid}@${host}` -> first failure time
const answeredAt = new Map(); // `${uid}@${host}` -> time the last probe through it started
const orphanSeen = new Map(); // key -> first seen

async function listeningPorts(pid) {
  const r = await execFileP('/usr/bin/ss', ['-Hltnp']).catch(() => ({ stdout: '' }));
  const out = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const m = /\s(\S+):(\d+)\s+\S+:\*/.exec(line);
    if (m) out.push({ host: m[1], port: Number(m[2]) });
  }
  return out;
}

/** One look at the system; returns the problems seen now (for convergence), records violations. */
async function check({ record = true, before = Infinity, faultEnd = 0 } = {}) {
  const problems = [];
  let servers;
  let services;
  let claims;
  try {
    servers = (await sys.admin.forwardedServers.list(sys.namespace)).items;
    services = (await sys.admin.core.listNamespacedService({ namespace: sys.namespace })).items;
    claims = (
      await sys.admin.coordination.listNamespacedLease({
        namespace: sys.namespace,
        labelSelector: 'app.kubernetes.io/component=port-claim',
      })
    ).items;
  } catch (err) {
    return [`API server: ${err.message ?? err}`];
  }
  if (record) checked.rounds++;
  const live = servers.filter((s) => !s.metadata.deletionTimestamp);
  const uids = new Set(servers.map((s) => s.metadata.uid));
  const t = now();

  // unique-ports
  const byPort = new Map();
  for (const s of live) {
    const p = s.status?.runnerPort;
    if (!p) continue;
    if (byPort.has(p)) {
      const msg = `port ${p} held by ${byPort.get(p)} and ${s.metadata.name}`;
      problems.push(msg);
      if (record) violation('unique-ports', msg);
    }
    byPort.set(p, s.metadata.name);
  }

  // no-orphans: Services and claims owned by no existing server, listeners with no server.
  const orphans = [];
  for (const svc of services) {
    const owner = svc.metadata.ownerReferences?.find((r) => r.kind === 'ForwardedServer');
    if (owner && !uids.has(owner.uid)) orphans.push(`Service ${svc.metadata.name}`);
  }
  for (const c of claims) {
    const owner = c.metadata.ownerReferences?.find((r) => r.kind === 'ForwardedServer');
    if (!owner || !uids.has(owner.uid)) orphans.push(`port claim ${c.metadata.name}`);
  }
  const wantedPorts = new Set(
    live.filter((s) => s.status?.runnerPort && s.spec.target).map((s) => s.status.runnerPort),
  );
  for (const r of sys.runners) {
    if (!sys.alive(r)) continue;
    for (const l of await listeningPorts(r.pod.child.pid)) {
      if (l.port === r.pod.httpPort) continue;
      if (record) checked.listeners++;
      if (!byPort.has(l.port) && !wantedPorts.has(l.port))
        orphans.push(`listener ${r.name} ${l.host}:${l.port}`);
    }
  }
  const current = new Set(orphans);
  for (const k of [...orphanSeen.keys()]) if (!current.has(k)) orphanSeen.delete(k);
  for (const k of orphans) {
    if (!orphanSeen.has(k)) {
      orphanSeen.set(k, t);
      checked.orphansSeen++;
    }
    // A deleted server's objects take a moment to go; converged means none is older than that.
    if (t - orphanSeen.get(k) > ORPHAN_SETTLE_MS) problems.push(`orphan ${k}`);
    if (record && t - orphanSeen.get(k) > ORPHAN_GRACE_MS) {
      violation('no-orphans', `${k} for ${((t - orphanSeen.get(k)) / 1000).toFixed(0)} s`);
      orphanSeen.set(k, Infinity); // once
    }
  }

  // ready-answers
  const replicas = await readyRunners();
  if (replicas.length < sys.runners.length)
    problems.push(`${replicas.length} runner replicas ready`);
  const seenKeys = new Set();
  for (const s of live) {
    if (s.status?.phase !== 'Ready' || !s.status.runnerPort) continue;
    // No ready replica: the Service has no endpoint, so the server cannot answer.
    for (const r of replicas.length ? replicas : [undefined]) {
      const host = r ? sys.listenHost(r) : 'no ready runner replica';
      const key = `${s.metadata.uid}@${host}`;
      seenKeys.add(key);
      const probed = now();
      const ok = r && (await answers(host, s.status.runnerPort));
      if (record) {
        checked.readyProbes++;
        if (ok) checked.answered++;
      }
      if (ok) {
        suspects.delete(key);
        answeredAt.set(key, Math.max(answeredAt.get(key) ?? 0, probed));
        continue;
      }
      if ((answeredAt.get(key) ?? 0) < faultEnd)
        problems.push(`${s.metadata.name} Ready but has not answered on ${host} since the fault`);
      if (!suspects.has(key)) suspects.set(key, t);
      const first = suspects.get(key);
      if (record && first !== Infinity && t - first > PROBE_INTERVAL_MS + CHECK_EVERY_MS) {
        violation(
          'ready-answers',
          `${s.metadata.name} Ready but ${host}:${s.status.runnerPort} has not answered for ${((t - first) / 1000).toFixed(0)} s; conditions ${JSON.stringify(s.status.conditions?.map((c) => [c.type, c.status, c.reason, c.lastTransitionTime]))}`,
        );
        suspects.set(key, Infinity);
      }
    }
  }
  for (const k of [...suspects.keys()]) if (!seenKeys.has(k)) suspects.delete(k);
  for (const k of [...answeredAt.keys()]) if (!seenKeys.has(k)) answeredAt.delete(k);

  // final phases of what the churn waits for (the churn itself records final-phase violations)
  for (const [user, e] of expected) {
    if (e.since >= before) continue; // requested after the fault: not part of its convergence
    const s = live.find((x) => x.spec.user?.name === user);
    if (s && s.status?.phase !== e.final)
      problems.push(`${user} ${s.status?.phase} (wants ${e.final})`);
  }

  // components
  for (const p of [...sys.operators, sys.facade]) {
    const ok =
      sys.alive(p) &&
      (await fetch(`http://127.0.0.1:${p.pod.httpPort}/readyz`, {
        signal: AbortSignal.timeout(2000),
      }).then(
        (x) => x.ok || x.status === 503, // a standby operator may answer 503 by design
        () => false,
      ));
    if (!ok) problems.push(`${p.name} not up`);
  }
  return problems;
}

// ------------------------------------------------------------------------------------------
// Faults

async function inject(kind) {
  switch (kind) {
    case 'operator-leader': {
      const leader = await sys.leader();
      if (!leader) return 'no leader at the moment: skipped';
      sys.kill(leader);
      await sleep(1000);
      await sys.restart(leader);
      return `${leader.name} (${leader.pod.pod})`;
    }
    case 'runner-replica': {
      const r = sys.runners[Math.floor(random() * sys.runners.length)];
      sys.kill(r);
      await sleep(1000);
      await sys.restart(r);
      return r.name;
    }
    case 'facade':
      sys.kill(sys.facade);
      await sleep(1000);
      await sys.restart(sys.facade);
      return '';
    case 'sshd': {
      await sys.site.sshd.kill();
      const down = between(1, 5);
      await sleep(down * 1000);
      await sys.site.sshd.start();
      return `down ${down.toFixed(1)} s`;
    }
    case 'apiserver': {
      const w = [now(), undefined];
      apiDown.push(w);
      await sys.cp.restartApiServer();
      w[1] = now();
      return `down ${((w[1] - w[0]) / 1000).toFixed(1)} s`;
    }
    case 'jumpnode-restart': {
      const r = await facade('GET', '/api/recreateforward/hpc', { token: sys.tokens.nodeRestart });
      return `restartedAt ${r.json.restartedAt}`;
    }
  }
  throw new Error(kind);
}

async function injector(end) {
  let order = [];
  await sleep(between(FAULT_MIN_S, FAULT_MAX_S) * 1000);
  while (now() < end.at) {
    if (!order.length) order = shuffled(FAULT_KINDS);
    const kind = order.shift();
    const at = now();
    let detail;
    try {
      detail = await inject(kind);
    } catch (err) {
      detail = `injection failed: ${err.message}`;
      violation('fault-injection', `${kind}: ${err.message}`);
    }
    lastFaultEnd = now();
    let convergedMs;
    let problems = [];
    while (now() - at < CONVERGE_LIMIT_MS) {
      problems = await check({ record: false, before: at, faultEnd: lastFaultEnd });
      if (!problems.length) {
        convergedMs = now() - at;
        break;
      }
      await sleep(1000);
    }
    if (convergedMs === undefined)
      violation(
        'converge',
        `${kind}: not converged after ${CONVERGE_LIMIT_MS / 1000} s: ${problems.slice(0, 10).join('; ')}`,
      );
    faults.push({ kind, at, detail, convergedMs });
    log(
      `fault ${faults.length}: ${kind} ${detail}; converged ${convergedMs === undefined ? 'never' : `after ${(convergedMs / 1000).toFixed(1)} s`}; load ${loadavg()[0].toFixed(1)}`,
    );
    const pause = now() + between(FAULT_MIN_S, FAULT_MAX_S) * 1000;
    while (now() < Math.min(pause, end.at)) await sleep(500);
  }
}

let tree;
let leaderFlips = 0;

/** Lines containing `needle` in the log files of `dir` whose names match `names`. */
function countInLogs(dir, names, needle) {
  let n = 0;
  for (const f of readdirSync(dir).filter((x) => names.test(x)))
    n += readFileSync(join(dir, f), 'utf8').split(needle).length - 1;
  return n;
}

/** What the system left after stopping: processes, network namespaces, files in its TMPDIR. */
function leftovers(ownTmp) {
  const seen = tree.all();
  return [
    ...survivors(seen).map((p) => `process ${p.pid} ${p.cmd.slice(0, 120)}`),
    ...namespacesOf([process.pid, ...seen.map((p) => p.pid)]).map((n) => `netns ${n}`),
    ...readdirSync(ownTmp).map((n) => `temporary ${n}`),
  ];
}

async function checker(untilFlag) {
  while (!untilFlag.done) {
    tree.look();
    await sampleQueue();
    await check().catch((e) => log(`check failed: ${e.message}`));
    await sleep(CHECK_EVERY_MS);
  }
}

// ------------------------------------------------------------------------------------------

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'jfo-soak-'));
  // Everything the system makes in TMPDIR goes to a directory of ours, checked at the end.
  const ownTmp = join(work, 'tmp');
  mkdirSync(ownTmp);
  process.env.TMPDIR = ownTmp;
  tree = new TreeRecorder(process.pid, processTree(process.pid));
  const logDir = textArg('logs') ? resolve(textArg('logs')) : join(work, 'logs');
  const load0 = loadavg();
  log(
    `Soak: ${MINUTES} min, ${RATE} sessions/s, seed ${SEED}, logs in ${logDir}; load ${load0.map((x) => x.toFixed(2)).join(' ')}`,
  );
  const t0 = now();
  sys = await startSystem({ operators: 2, runners: 2, logDir, targets: 2 });
  log(`System up in ${((now() - t0) / 1000).toFixed(0)} s`);
  let interrupted = false;
  const end = { at: 0 };
  const onSignal = () => {
    log('Interrupted: ending the churn and the faults, then the final checks and clean-up');
    interrupted = true;
    end.at = now();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const start = now();
  end.at = start + MINUTES * 60_000;
  const flag = { done: false };
  const checking = checker(flag);
  try {
    await Promise.all([churn(end), injector(end)]);
    stopping = true;
    // Final: after the last fault, everything left converges; then nothing may remain.
    const finished = now();
    let problems = [];
    while (now() - finished < FINAL_BOUND_MS) {
      problems = await check({ record: false, faultEnd: lastFaultEnd });
      if (!problems.length) break;
      await sleep(1000);
    }
    if (problems.length)
      violation(
        'converge',
        `at the end, ${FINAL_BOUND_MS / 1000} s after the last session: ${problems.slice(0, 10).join('; ')}`,
      );
    const left = (await sys.admin.forwardedServers.list(sys.namespace)).items;
    if (left.length)
      violation(
        'no-orphans',
        `servers left after every session deleted its own: ${left.map((s) => s.metadata.name).join(', ')}`,
      );
    flag.done = true;
    await checking;
  } finally {
    flag.done = true;
    const minutes = (now() - start) / 60_000;
    tree.look();
    await sys.stop();
    const left = leftovers(ownTmp);
    const cleanup = left.length
      ? `LEFT BEHIND: ${left.join('; ')}`
      : 'nothing left (processes, network namespaces, temporary files)';
    if (left.length) violation('clean-up', left.join('; '));
    leaderFlips = countInLogs(logDir, /^operator/, '"Stopped leading"');
    summary(minutes, load0, interrupted, cleanup);
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(violations.length ? 1 : 0);
}

function summary(minutes, load0, interrupted, cleanup) {
  const lines = [];
  lines.push(`\n## Soak summary${interrupted ? ' (interrupted)' : ''}`);
  lines.push(
    `duration ${minutes.toFixed(1)} min, rate ${RATE}/s, seed ${SEED}; load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  lines.push(
    `servers spawned: ${nextUser} (spawn ${sessions.spawn}, cancel ${sessions.cancel}, abandon ${sessions.abandon}); reached Ready ${sessions.ready}, Cancelled ${sessions.cancelled}, not final ${sessions.failed}, sessions ended by an error answer ${sessions.errors}`,
  );
  lines.push(
    `facade answers: ${[...statusCounts]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}: ${n}`)
      .join(', ')}; connection refused (facade restarting): ${refused.count}`,
  );
  lines.push(
    `checker: ${checked.rounds} rounds; Ready servers probed through a runner port ${checked.readyProbes} times (answered ${checked.answered}); runner listeners checked ${checked.listeners}; orphans seen (most go within seconds) ${checked.orphansSeen}`,
  );
  lines.push(
    `leading operator's ForwardedServer work queue: ${queueStats.samples} samples, mean depth ${(queueStats.depthSum / Math.max(1, queueStats.samples)).toFixed(1)}, max ${queueStats.maxDepth}; "Stopped leading" in the operator logs (a renewal missed its deadline; a SIGKILLed leader logs nothing): ${leaderFlips}`,
  );
  lines.push(`clean-up: ${cleanup}`);
  lines.push('\n| fault | injected | converged p50 (s) | converged max (s) | not converged |');
  lines.push('|---|---|---|---|---|');
  for (const kind of FAULT_KINDS) {
    const fs = faults.filter((f) => f.kind === kind);
    const ms = fs.filter((f) => f.convergedMs !== undefined).map((f) => f.convergedMs / 1000);
    lines.push(
      `| ${kind} | ${fs.length} | ${quantile(ms, 0.5).toFixed(1)} | ${ms.length ? Math.max(...ms).toFixed(1) : 'NaN'} | ${fs.length - ms.length} |`,
    );
  }
  lines.push(`\ninvariant violations: ${violations.length}`);
  const by = new Map();
  for (const v of violations) by.set(v.invariant, (by.get(v.invariant) ?? 0) + 1);
  for (const [k, n] of by) lines.push(`  ${k}: ${n}`);
  for (const v of violations.slice(0, 50)) lines.push(`  ${v.at} ${v.invariant}: ${v.detail}`);
  console.log(lines.join('\n'));
}

main().catch(async (err) => {
  console.error(err);
  await sys?.stop();
  process.exit(2);
});
