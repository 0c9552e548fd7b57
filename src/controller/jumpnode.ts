// The JumpNode reconciler: the runner's ServiceAccount, Role, RoleBinding and Deployment (in
// that order, so a pod never runs without its permissions), then the status: readyReplicas from
// the Deployment, forwards from the port claims, Ready from both and the runner's Connected.
// A JumpNode that asks for what the operator's policy refuses (an image, a toleration, a key
// Secret without the opt-in label) gets Ready=False with the reason and no change to its
// runner; the key Secret is checked again after KEY_SECRET_RECHECK_MS, since a label on a
// Secret does not trigger a reconcile.
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, JUMP_NODE, type JumpNode } from '../api/types.js';
import { StatusApplier, type OwnedFields } from '../kube/status-applier.js';
import { FIELD_MANAGER, runnerName, splitKey } from '../names.js';
import {
  computeJumpNodeStatus,
  ownedJumpNodeStatus,
  type JumpNodeObservation,
  type OwnedJumpNodeStatus,
} from '../resources/jumpnode-status.js';
import {
  keySecret,
  keySecretProblem,
  runnerPolicyProblem,
  buildRunnerDeployment,
  buildRunnerRole,
  buildRunnerRoleBinding,
  buildRunnerServiceAccount,
} from '../resources/runner.js';
import { nameCollisions } from '../resources/jumpnode-names.js';
import { jumpNodeEvents, type EventSpec } from '../resources/transitions.js';
import type { Cache, ControllerContext } from './context.js';
import { takenPorts } from './ports.js';
import { deleteOrphans, type ChildSource } from './orphans.js';

/** The operator's part of a JumpNode's status (contract 0001 §A). */
export const JUMP_NODE_STATUS: OwnedFields<JumpNode, OwnedJumpNodeStatus> = {
  apiVersion: API_VERSION,
  kind: JUMP_NODE.kind,
  fieldManager: FIELD_MANAGER,
  read: (jn) => ownedJumpNodeStatus(jn.status),
  transitions: (before, after) => jumpNodeEvents(before?.conditions, after.conditions),
};

export const KEY_SECRET_RECHECK_MS = 15_000;

export function jumpNodeReconciler(ctx: ControllerContext) {
  const applier = new StatusApplier(JUMP_NODE_STATUS, {
    client: ctx.jumpNodes,
    recorder: ctx.recorder,
    beforeWrite: ctx.guard,
  });
  return async (key: string): Promise<{ requeueAfterMs: number } | void> => {
    const { namespace, name } = splitKey(key);
    const cachedJn = ctx.caches.jumpNodes.get(name, namespace);
    if (!cachedJn) {
      applier.forget(key);
      await deleteOrphans(ctx, { kind: JUMP_NODE.kind, namespace, name }, runnerChildren(ctx));
      return;
    }
    if (cachedJn.metadata.deletionTimestamp) return;
    const jn = applier.view(cachedJn);
    const refused = await policyProblem(ctx, jn);
    const { problem, events } = refused
      ? { problem: refused, events: [] }
      : await ensureRunner(ctx, jn);
    const deployment = ctx.caches.deployments.get(runnerName(name), namespace);
    const observed: JumpNodeObservation = {
      ...(problem ? { problem } : {}),
      desiredReplicas: jn.spec.runner?.replicas ?? 1,
      readyReplicas: problem ? 0 : (deployment?.status?.readyReplicas ?? 0),
      forwards: takenPorts(ctx, namespace, name).size,
      nameCollisions: nameCollisions(jn, ctx.caches.jumpNodes.list(namespace)),
    };
    const status = computeJumpNodeStatus(jn, observed, new Date(ctx.clock.now()));
    const r = await applier.apply(jn, status, { events });
    if (r.outcome === 'written')
      ctx.log.debug('Updated JumpNode status', { namespace, name, forwards: status.forwards });
    if (refused?.reason.startsWith('KeySecret')) return { requeueAfterMs: KEY_SECRET_RECHECK_MS };
  };
}

async function policyProblem(ctx: ControllerContext, jn: JumpNode) {
  const refused = runnerPolicyProblem(jn, ctx.settings.runner);
  if (refused) return refused;
  const lookup = await ctx.keySecret(jn.metadata.namespace!, keySecret(jn).name);
  return keySecretProblem(jn, lookup);
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
