// Informer events -> work queue keys. Handlers only enqueue `namespace/name` keys (never do I/O):
// a child maps to its controlling owner, a port claim to its holder and its JumpNode, a JumpNode
// whose spec changed (or which appeared or vanished) to every ForwardedServer that uses it.
// Priorities: a change to a ForwardedServer that exists already, or to one of its children or
// claims, is 'high' (it finishes work under way: a runner's condition becomes Ready at once);
// a new ForwardedServer, a JumpNode change and a resync are 'normal'. During a burst of creates,
// servers already set up are finished before new ones are started.
import type { KubernetesObject } from '@kubernetes/client-node';
import { FORWARDED_SERVER, JUMP_NODE, type ForwardedServer, type JumpNode } from '../api/types.js';
import type { Controller } from '../controller/controller.js';
import { findCondition } from '../resources/conditions.js';
import { controllerOf } from '../resources/meta.js';
import { parseClaim } from '../resources/ports.js';
import { objectKey } from '../names.js';
import type { Informers } from './informers.js';

/** How long claim changes are collected before the JumpNode's forwards count is rewritten. */
export const CLAIM_BATCH_MS = 1000;

export function wireHandlers(inf: Informers, servers: Controller, nodes: Controller): void {
  const { byKind, caches } = inf;
  const keyOf = (o: KubernetesObject) =>
    objectKey(o.metadata?.namespace ?? '', o.metadata?.name ?? '');
  const usersOf = (ns: string, node: string) => {
    for (const fs of caches.forwardedServers.list(ns))
      if (fs.spec.jumpNodeRef?.name === node) servers.enqueue(keyOf(fs as never));
  };
  const toOwner = (kind: string, target: Controller) => (o: KubernetesObject) => {
    const ref = controllerOf(o.metadata as never);
    if (ref?.kind === kind)
      target.enqueue(objectKey(o.metadata?.namespace ?? '', ref.name), 'high');
  };
  const onAll = (i: Informers['all'][number], fn: (o: KubernetesObject) => void) => {
    i.on('add', fn);
    i.on('update', fn);
    i.on('delete', fn);
  };

  // Servers waiting for a free port, by JumpNode (namespace/name -> server keys): a freed port
  // wakes only them, without a scan of every server.
  const waiting = new Map<string, Set<string>>();
  const trackWaiting = (o: KubernetesObject, gone: boolean) => {
    const fs = o as unknown as ForwardedServer;
    const key = keyOf(o);
    for (const [node, keys] of waiting) if (keys.delete(key) && !keys.size) waiting.delete(node);
    const node = fs.spec?.jumpNodeRef?.name;
    const exhausted = findCondition(fs.status?.conditions, 'Ready')?.reason === 'PortsExhausted';
    if (gone || !node || !exhausted) return;
    const nodeKey = objectKey(o.metadata?.namespace ?? '', node);
    let keys = waiting.get(nodeKey);
    if (!keys) waiting.set(nodeKey, (keys = new Set()));
    keys.add(key);
  };
  byKind.forwardedServers.on('add', (o) => {
    trackWaiting(o, false);
    servers.enqueue(keyOf(o));
  });
  byKind.forwardedServers.on('update', (o) => {
    trackWaiting(o, false);
    servers.enqueue(keyOf(o), 'high');
  });
  byKind.forwardedServers.on('delete', (o) => {
    trackWaiting(o, true);
    servers.enqueue(keyOf(o), 'high');
  });

  // Servers depend on a JumpNode's existence and spec, not on its status (which changes with
  // every port claim): an update without a new generation does not touch them.
  const generations = new Map<string, number | undefined>();
  const nodeChanged = (o: KubernetesObject, gone: boolean) => {
    const key = keyOf(o);
    nodes.enqueue(key);
    const gen = gone ? undefined : (o as unknown as JumpNode).metadata.generation;
    if (!gone && generations.has(key) && generations.get(key) === gen) return;
    if (gone) generations.delete(key);
    else generations.set(key, gen);
    usersOf(o.metadata?.namespace ?? '', o.metadata?.name ?? '');
    // Its names may now collide with (or no longer collide with) another JumpNode's.
    for (const other of caches.jumpNodes.list(o.metadata?.namespace ?? ''))
      nodes.enqueue(objectKey(other.metadata.namespace ?? '', other.metadata.name));
  };
  byKind.jumpNodes.on('add', (o) => nodeChanged(o, false));
  byKind.jumpNodes.on('update', (o) => nodeChanged(o, false));
  byKind.jumpNodes.on('delete', (o) => nodeChanged(o, true));

  for (const k of ['services', 'endpointSlices'] as const)
    onAll(byKind[k], toOwner(FORWARDED_SERVER.kind, servers));
  for (const k of ['deployments', 'serviceAccounts', 'roles', 'roleBindings'] as const)
    onAll(byKind[k], toOwner(JUMP_NODE.kind, nodes));

  const claimChanged = (o: KubernetesObject) => {
    toOwner(FORWARDED_SERVER.kind, servers)(o);
    const c = parseClaim(o);
    // Claims change in bursts (a thousand servers start): one JumpNode status write per second.
    if (c) nodes.queue.addAfter(objectKey(o.metadata?.namespace ?? '', c.jumpNode), CLAIM_BATCH_MS);
  };
  byKind.portClaims.on('add', claimChanged);
  byKind.portClaims.on('update', claimChanged);
  byKind.portClaims.on('delete', (o) => {
    claimChanged(o);
    // A freed port may be what a server waiting on an exhausted range needs.
    const c = parseClaim(o);
    if (c)
      for (const key of waiting.get(objectKey(o.metadata?.namespace ?? '', c.jumpNode)) ?? [])
        servers.enqueue(key);
  });
}

/** Enqueues every cached ForwardedServer and JumpNode (the periodic resync). */
export function enqueueAll(inf: Informers, servers: Controller, nodes: Controller): void {
  for (const fs of inf.caches.forwardedServers.list())
    servers.enqueue(objectKey(fs.metadata.namespace ?? '', fs.metadata.name));
  for (const jn of inf.caches.jumpNodes.list())
    nodes.enqueue(objectKey(jn.metadata.namespace ?? '', jn.metadata.name));
}
