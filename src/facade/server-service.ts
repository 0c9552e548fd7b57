// The facade's operations on ForwardedServers and JumpNodes, independent of HTTP. Handlers call
// these; every write to one server runs in that server's serializer slot and is retried on
// resourceVersion conflicts.
import {
  RESTARTED_AT_ANNOTATION,
  type ForwardedServer,
  type HostPort,
  type JumpNode,
} from '../api/types.js';
import type { Clock } from '../clock.js';
import { serverResourceName } from '../names.js';
import type { EventCaps } from '../resources/events.js';
import {
  DEFAULT_DIRECT_POLICY,
  targetProblem,
  type DirectTargetPolicy,
} from '../resources/target-policy.js';
import { KeyedSerializer, retryOnConflict } from './concurrency.js';
import { badRequest, conflict, notFound } from './errors.js';
import { EventWriter, type CancelResult } from './event-writer.js';
import type { FacadeMetrics } from './metrics.js';
import {
  isStopping,
  listServers,
  matchJumpNodes,
  type EventOutcome,
  type PendingEvent,
} from './server-logic.js';
import { buildForwardedServer, type PutServerBody } from './server-spec.js';
import type { ServerStore } from './store.js';

export interface ServerServiceDeps {
  store: ServerStore;
  clock: Clock;
  metrics: FacadeMetrics;
  caps: EventCaps;
  /** Attempts of one read-decide-write step before a conflict becomes a 503. */
  writeAttempts?: number;
  /** Where direct servers may lead; JumpNodes carry their own policy. */
  directTargets?: DirectTargetPolicy;
}

const describe = (user: string, server: string) =>
  server ? `server '${server}' of user '${user}'` : `default server of user '${user}'`;

export class ServerService {
  private readonly serializer = new KeyedSerializer();
  private readonly writer: EventWriter;
  private readonly store: ServerStore;
  private readonly attempts: number;

  constructor(private readonly deps: ServerServiceDeps) {
    this.store = deps.store;
    this.attempts = deps.writeAttempts ?? 10;
    this.writer = new EventWriter({
      store: deps.store,
      serializer: this.serializer,
      caps: deps.caps,
      metrics: deps.metrics,
      writeAttempts: this.attempts,
    });
  }

  private retry<T>(operation: string, step: () => Promise<T>): Promise<T> {
    return retryOnConflict(step, {
      attempts: this.attempts,
      onConflict: () => this.deps.metrics.writeConflicts.inc({ operation }),
    });
  }

  /** The server, or a 404 naming it. Reads may come from the cache. */
  async find(user: string, server: string): Promise<ForwardedServer> {
    const fs = await this.store.read(serverResourceName(user, server));
    if (!fs || fs.spec.user.name !== user || (fs.spec.serverName ?? '') !== server)
      throw notFound(`No ${describe(user, server)}`);
    return fs;
  }

  private checkStart(fs: ForwardedServer, startId: string | undefined): void {
    if (startId !== undefined && startId !== fs.spec.startId)
      throw conflict(
        `start_id ${JSON.stringify(startId)} is not the current start of ${fs.metadata.name}`,
      );
  }

  async postEvent(user: string, server: string, item: PendingEvent): Promise<EventOutcome> {
    const fs = await this.find(user, server);
    this.checkStart(fs, item.startId);
    return this.writer.submit(fs.metadata.name, item);
  }

  async setupTunnel(
    user: string,
    server: string,
    target: HostPort,
    sshNode: string | undefined,
    startId: string | undefined,
  ): Promise<void> {
    const found = await this.find(user, server);
    const name = found.metadata.name;
    const jumpNode = sshNode === undefined ? undefined : await this.resolveJumpNode(sshNode);
    await this.checkTarget(target, jumpNode ?? found.spec.jumpNodeRef?.name);
    await this.serializer.run(name, () =>
      this.retry('setuptunnel', async () => {
        const fs = await this.store.get(name);
        if (!fs) throw notFound(`No ${describe(user, server)}`);
        this.checkStart(fs, startId);
        if (isStopping(fs))
          throw badRequest(`Bad Request: the ${describe(user, server)} is stopping`);
        const spec = jumpNode ? { target, jumpNodeRef: { name: jumpNode } } : { target };
        await this.store.patchSpec(name, fs.metadata.resourceVersion!, spec);
      }),
    );
  }

  /**
   * A 400 when the target policy refuses the target: the JumpNode's own policy, or the
   * operator-wide one for direct servers. A JumpNode that does not exist is the operator's to
   * report; the runner checks again before it forwards.
   */
  private async checkTarget(target: HostPort, jumpNode: string | undefined): Promise<void> {
    let node: JumpNode | undefined;
    if (jumpNode) {
      node = (await this.store.jumpNodes()).find((n) => n.metadata.name === jumpNode);
      if (!node) return;
    }
    const problem = targetProblem(target, node, this.deps.directTargets ?? DEFAULT_DIRECT_POLICY);
    if (problem) throw badRequest(`Target not allowed: ${problem}`);
  }

  /** The one JumpNode a name or alias designates, else a 400 explaining why not. */
  async resolveJumpNode(nameOrAlias: string): Promise<string> {
    const matches = matchJumpNodes(await this.store.jumpNodes(), nameOrAlias);
    if (matches.length === 0)
      throw badRequest(`No JumpNode named or aliased ${JSON.stringify(nameOrAlias)}`);
    if (matches.length > 1)
      throw badRequest(
        `Alias ${JSON.stringify(nameOrAlias)} is ambiguous: ${matches.map((n) => n.metadata.name).join(', ')}`,
      );
    return matches[0]!.metadata.name;
  }

  async listKeys(): Promise<string[]> {
    return listServers(await this.store.list());
  }

  /** Annotates every JumpNode with that name or alias; returns their names (404 if none). */
  async recreateForward(node: string): Promise<{ jumpNodes: string[]; restartedAt: string }> {
    const matches = matchJumpNodes(await this.store.jumpNodes(), node);
    if (matches.length === 0)
      throw notFound(`No JumpNode named or aliased ${JSON.stringify(node)}`);
    const restartedAt = new Date(this.deps.clock.now()).toISOString();
    for (const n of matches)
      await this.store.annotateJumpNode(n.metadata.name, {
        [RESTARTED_AT_ANNOTATION]: restartedAt,
      });
    return { jumpNodes: matches.map((n) => n.metadata.name), restartedAt };
  }

  /** Creates or replaces; a new startId resets events and cancel state. */
  async put(
    user: string,
    server: string,
    body: PutServerBody,
  ): Promise<{ created: boolean; fs: ForwardedServer }> {
    const jumpNode = body.jumpNode ? await this.resolveJumpNode(body.jumpNode) : undefined;
    if (body.target) await this.checkTarget(body.target, jumpNode);
    const id = { namespace: this.store.namespace, user, server };
    const desired = buildForwardedServer(id, body, jumpNode);
    const name = desired.metadata.name;
    return this.serializer.run(name, async () => {
      const result = await this.retry('put', () => this.putStep(desired));
      if (!result.created && result.newStart)
        result.fs = await this.resetEvents(name, body.startId);
      return { created: result.created, fs: result.fs };
    });
  }

  private async putStep(desired: ForwardedServer) {
    const name = desired.metadata.name;
    const existing = await this.store.get(name);
    if (!existing) return { created: true, newStart: true, fs: await this.store.create(desired) };
    if (existing.metadata.deletionTimestamp)
      throw conflict(`ForwardedServer ${name} is being deleted; try again shortly`);
    if (existing.spec.user.id !== desired.spec.user.id) {
      // Left over from an earlier hub user of the same name: it is no longer anybody's server.
      await this.store.delete(name, existing.metadata.resourceVersion);
      return { created: true, newStart: true, fs: await this.store.create(desired) };
    }
    const newStart = existing.spec.startId !== desired.spec.startId;
    const next: ForwardedServer = {
      ...desired,
      metadata: {
        ...existing.metadata,
        labels: { ...existing.metadata.labels, ...desired.metadata.labels },
      },
      spec: {
        ...desired.spec,
        cancelRequested: newStart ? false : existing.spec.cancelRequested === true,
      },
    };
    return { created: false, newStart, fs: await this.store.replace(next) };
  }

  /** Clears the facade's status fields for a new start (unless yet another start replaced it). */
  private async resetEvents(name: string, startId: string): Promise<ForwardedServer> {
    return this.retry('put', async () => {
      const fs = await this.store.get(name);
      if (!fs) throw notFound(`No ForwardedServer ${name}`);
      const s = fs.status ?? {};
      if (
        fs.spec.startId !== startId ||
        (!s.events?.length && !s.eventsDropped && !s.terminalEvent)
      )
        return fs;
      return this.store.applyStatus(name, fs.metadata.resourceVersion!, {
        events: [],
        eventsDropped: 0,
      });
    });
  }

  async cancel(user: string, server: string, startId?: string): Promise<CancelResult> {
    const fs = await this.find(user, server);
    this.checkStart(fs, startId);
    return this.serializer.run(fs.metadata.name, () =>
      this.writer.requestCancel(fs.metadata.name, startId),
    );
  }

  async delete(user: string, server: string): Promise<void> {
    const name = (await this.find(user, server)).metadata.name;
    const existed = await this.serializer.run(name, () => this.store.delete(name));
    if (!existed) throw notFound(`No ${describe(user, server)}`);
  }
}
