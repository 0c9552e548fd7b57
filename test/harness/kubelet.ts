// Plays the kubelet for one pod of a Deployment: no kubelet runs on the local control plane, so
// the pods the controller manager creates stay Pending. runPod() takes one of them and runs its
// container as a local process, the way a kubelet would:
//
// - the command is the image's ENTRYPOINT (`node dist/cli.js`) with the container's args;
// - the environment, volumes and Kubernetes access are the pod's (pod-spec.ts): downward-API
//   fields and Secret references resolved, Secret volumes written locally, and a kubeconfig with
//   a token of the pod's ServiceAccount, so the process has exactly the RBAC the manifests (or
//   the operator) gave that ServiceAccount;
// - the pod network is the host's loopback: the container's HTTP port becomes a free local port
//   (JFO_HTTP_PORT, JFO_HTTP_HOST; see POD_NETWORK_ENV), and the readiness probe is run against
//   it every PROBE_MS, with the result written to the pod's status (Running, Ready), so
//   `kubectl get pods` and the Deployment's readyReplicas tell the truth.
//
// stop() ends the process and deletes the pod (its ReplicaSet makes a new, Pending one).
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { freePort } from '../../src/dev/control-plane.js';
import { hasExited, stopChild } from '../../src/dev/process.js';
import { containerEnvironment, type PodContext } from './pod-spec.js';
import { spawnCli } from './util.js';

const PROBE_MS = 2000;
const POD_WAIT_MS = 60_000;
const API_CLEANUP_MS = 5000;
const statusPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** Where the pod's own network namespace is replaced by the host's loopback. */
export const POD_NETWORK_ENV = (httpPort: number) => ({
  JFO_HTTP_HOST: '127.0.0.1',
  JFO_HTTP_PORT: String(httpPort),
});

export interface PodOptions extends PodContext {
  deployment: string;
  /** Set on top of the pod's environment (documented stand-ins and test settings). */
  env?: Record<string, string>;
  /** Also append the process's output to this file. */
  logFile?: string;
  /** Local port of the container's HTTP port (default: a free port). */
  httpPort?: number;
}

export interface PodProcess {
  pod: string;
  namespace: string;
  child: ChildProcess;
  httpPort: number;
  /** The resolved environment the process got (without PATH). */
  env: Record<string, string>;
  /** Log lines so far, parsed (non-JSON lines as {message}). */
  logs(): Array<Record<string, unknown>>;
  lines(message: string): Array<Record<string, unknown>>;
  exited(): boolean;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** The newest ReplicaSet's pods of a Deployment that nobody runs yet; waits for one. */
async function pendingPod(o: PodOptions): Promise<k8s.V1Pod> {
  const deadline = Date.now() + POD_WAIT_MS;
  for (;;) {
    const dep = await o.admin.apps.readNamespacedDeployment({
      name: o.deployment,
      namespace: o.namespace,
    });
    const revision = dep.metadata?.annotations?.['deployment.kubernetes.io/revision'];
    const selector = Object.entries(dep.spec?.selector.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const sets = await o.admin.apps.listNamespacedReplicaSet({
      namespace: o.namespace,
      labelSelector: selector,
    });
    const current = sets.items.find(
      (rs) =>
        rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision &&
        rs.metadata?.ownerReferences?.some((r) => r.uid === dep.metadata?.uid),
    );
    const pods = await o.admin.core.listNamespacedPod({
      namespace: o.namespace,
      labelSelector: selector,
    });
    const pod = pods.items
      .filter((p) => p.metadata?.ownerReferences?.some((r) => r.uid === current?.metadata?.uid))
      .filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Pending')
      .sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!))[0];
    if (current && pod) return pod;
    if (Date.now() > deadline)
      throw new Error(`No Pending pod of Deployment ${o.namespace}/${o.deployment} appeared`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function setPodStatus(o: PodOptions, pod: k8s.V1Pod, ready: boolean): Promise<void> {
  const now = new Date();
  const container = pod.spec!.containers[0]!;
  const status = ready ? 'True' : 'False';
  await o.admin.core.patchNamespacedPodStatus(
    {
      name: pod.metadata!.name!,
      namespace: o.namespace,
      body: {
        status: {
          phase: 'Running',
          hostIP: '127.0.0.1',
          podIP: '127.0.0.1',
          startTime: pod.status?.startTime ?? now,
          conditions: [
            { type: 'Ready', status, lastTransitionTime: now },
            { type: 'ContainersReady', status, lastTransitionTime: now },
          ],
          containerStatuses: [
            {
              name: container.name,
              image: container.image ?? '',
              imageID: '',
              ready,
              started: true,
              restartCount: 0,
              state: { running: { startedAt: pod.status?.startTime ?? now } },
            },
          ],
        },
      },
    },
    statusPatch,
  );
}

/** Deletes the pod (its ReplicaSet makes a new one); bounded, for an API server going away too. */
async function deletePod(o: PodOptions, name: string): Promise<void> {
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([
    o.admin.core
      .deleteNamespacedPod({ name, namespace: o.namespace, gracePeriodSeconds: 0 })
      .catch(() => undefined),
    new Promise((r) => (bound = setTimeout(r, API_CLEANUP_MS))),
  ]);
  clearTimeout(bound);
}

/** Takes a Pending pod of the Deployment and runs its container locally. */
export async function runPod(o: PodOptions): Promise<PodProcess> {
  const pod = await pendingPod(o);
  const name = pod.metadata!.name!;
  const container = pod.spec!.containers[0]!;
  if (container.command?.length)
    throw new Error(`Pod ${name}: the test kubelet runs the image's entrypoint only`);
  await setPodStatus(o, pod, false);
  const dir = mkdtempSync(join(tmpdir(), `jfo-pod-${name.slice(0, 40)}-`));
  const httpPort = o.httpPort ?? (await freePort());
  let env: Record<string, string>;
  try {
    env = { ...(await containerEnvironment(o, pod, dir)), ...POD_NETWORK_ENV(httpPort), ...o.env };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const file = o.logFile ? createWriteStream(o.logFile, { flags: 'a' }) : undefined;
  const proc = spawnCli(container.args ?? [], env, { tee: file && ((d) => file.write(d)) });
  const { child, lines } = proc;
  running.add(child);
  void proc.exited.then(() => {
    running.delete(child);
    file?.end();
  });

  const probe = container.readinessProbe?.httpGet?.path ?? '/readyz';
  let ready = false;
  let stopping = false;
  const check = async () => {
    const ok = await fetch(`http://127.0.0.1:${httpPort}${probe}`, {
      signal: AbortSignal.timeout(PROBE_MS),
    }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok !== ready && !stopping) {
      ready = ok;
      await setPodStatus(o, pod, ok).catch(() => undefined);
    }
  };
  const timer = setInterval(() => void check(), PROBE_MS);

  return {
    pod: name,
    namespace: o.namespace,
    child,
    httpPort,
    env,
    logs: () => lines,
    lines: (message) => lines.filter((l) => l.message === message),
    exited: () => hasExited(child),
    async stop(signal = 'SIGTERM') {
      stopping = true;
      clearInterval(timer);
      try {
        await stopChild(child, { signal, killAfterMs: 30_000 });
        await deletePod(o, name);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
