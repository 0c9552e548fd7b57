// The JumpNode reconciler: the runner's ServiceAccount, Role, RoleBinding and Deployment (in
// that order, so a pod never runs without its permissions), then the status: readyReplicas from
// the Deployment, forwards from the port claims, Ready from both and the runner's Connected.
import { isDeepStrictEqual } from 'node:util';
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, JUMP_NODE, type JumpNode } from '../api/types.js';
import { isNotFound } from '../kube/client.js';
import { FIELD_MANAGER, runnerName, splitKey } from '../names.js';
import {
  computeJumpNodeStatus,
  ownedJumpNodeStatus,
  type JumpNodeObservation,
  type OwnedJumpNodeStatus,
} from '../resources/jumpnode-status.js';
import {
  buildRunnerDeployment,
  buildRunnerRole,
  buildRunnerRoleBinding,
  buildRunnerServiceAccount,
} from '../resources/runner.js';
import { jumpNodeEvents, type EventSpec } from '../resources/transitions.js';
import type { Cache, ControllerContext } from './context.js';
import { takenPorts } from './ports.js';
import { deleteOrphans, type ChildSource } from './orphans.js';
import { WrittenStatus } from './written.js';

export function jumpNodeReconciler(ctx: ControllerContext) {
  const written = new WrittenStatus<JumpNode['status']>();
  return async (key: string): Promise<void> => {
    const { namespace, name } = splitKey(key);
    const cachedJn = ctx.caches.jumpNodes.get(name, namespace);
    if (!cachedJn) {
      written.forget(key);
      await deleteOrphans(ctx, { kind: JUMP_NODE.kind, namespace, name }, runnerChildren(ctx));
      return;
    }
    if (cachedJn.metadata.deletionTimestamp) return;
    const rv = cachedJn.metadata.resourceVersion;
    const jn = { ...cachedJn, status: written.effective(key, rv, cachedJn.status) };
    const { problem, events } = await ensureRunner(ctx, jn);
    const deployment = ctx.caches.deployments.get(runnerName(name), namespace);
    const observed: JumpNodeObservation = {
      ...(problem ? { problem } : {}),
      desiredReplicas: jn.spec.runner?.replicas ?? 1,
      readyReplicas: problem ? 0 : (deployment?.status?.readyReplicas ?? 0),
      forwards: takenPorts(ctx, namespace, name).size,
    };
    const status = computeJumpNodeStatus(jn, observed, new Date(ctx.clock.now()));
    if (await writeStatus(ctx, jn, status, events)) {
      const others = (jn.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
      written.remember(key, rv, {
        ...jn.status,
        ...status,
        conditions: [...others, ...status.conditions],
      });
    }
  };
}

type Step = { build: (jn: JumpNode) => KubernetesObject; cache: Cache<KubernetesObject> };

async function ensureRunner(
  ctx: ControllerContext,
  jn: JumpNode,
): Promise<{ problem?: JumpNodeObservation['problem']; events: EventSpec[] }> {
  const c = ctx.caches;
  const steps: Step[] = [
    { build: buildRunnerServiceAccount, cache: c.serviceAccounts },
    { build: buildRunnerRole, cache: c.roles },
    { build: buildRunnerRoleBinding, cache: c.roleBindings },
    { build: (j) => buildRunnerDeployment(j, ctx.settings.runner), cache: c.deployments },
  ];
  const events: EventSpec[] = [];
  const name = runnerName(jn.metadata.name);
  for (const step of steps) {
    const desired = step.build(jn);
    const cached = step.cache.get(name, jn.metadata.namespace);
    const r = await ctx.children.ensure(desired, cached, jn.metadata.uid!);
    if (r.outcome === 'foreign')
      return { problem: { reason: 'ResourceExists', message: r.message! }, events };
    if (r.outcome === 'updated' || (r.outcome === 'created' && jn.status?.observedGeneration))
      events.push({
        type: 'Normal',
        reason: r.outcome === 'updated' ? 'Repaired' : 'Recreated',
        action: 'Apply',
        note: `${r.outcome === 'updated' ? 'Restored' : 'Recreated'} ${desired.kind} ${name}`,
      });
  }
  return { events };
}

async function writeStatus(
  ctx: ControllerContext,
  jn: JumpNode,
  status: OwnedJumpNodeStatus,
  childEvents: EventSpec[],
): Promise<boolean> {
  const stored = ownedJumpNodeStatus(jn.status);
  const target = { apiVersion: API_VERSION, kind: JUMP_NODE.kind, metadata: jn.metadata };
  for (const e of childEvents) ctx.recorder.record(target, e);
  if (isDeepStrictEqual(stored, status)) return false;
  const { namespace, name } = jn.metadata;
  ctx.guard();
  try {
    await ctx.jumpNodes.applyStatus(
      namespace!,
      name,
      API_VERSION,
      JUMP_NODE.kind,
      status,
      FIELD_MANAGER,
    );
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  ctx.log.debug('Updated JumpNode status', { namespace, name, forwards: status.forwards });
  for (const e of jumpNodeEvents(jn.status?.conditions, status.conditions))
    ctx.recorder.record(target, e);
  return true;
}

function runnerChildren(ctx: ControllerContext): ChildSource[] {
  const c = ctx.caches;
  const rbac = 'rbac.authorization.k8s.io/v1';
  return [
    { apiVersion: 'apps/v1', kind: 'Deployment', cache: c.deployments },
    { apiVersion: rbac, kind: 'RoleBinding', cache: c.roleBindings },
    { apiVersion: rbac, kind: 'Role', cache: c.roles },
    { apiVersion: 'v1', kind: 'ServiceAccount', cache: c.serviceAccounts },
  ];
}
