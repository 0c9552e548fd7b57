// The facade's operations on ForwardedServers and JumpNodes, independent of HTTP. Handlers look
// the server up once (find) and hand the object to the operation; every write to one server runs
// in that server's serializer slot, starts from that object and re-reads the source of truth
// only after a resourceVersion conflict.
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
import { KeyedSerializer, Recheck, retryFrom, retryOnConflict } from './concurrency.js';
import { badRequest, conflict, notFound } from './errors.js';
import { ingestEvent } from './event-ingest.js';
import { EventWriter } from './event-writer.js';
import type { FacadeMetrics } from './metrics.js';
import {
  changedSince,
  isStopping,
  listServers,
  matchJumpNodes,
  type EventOutcome,
} from './server-logic.js';
import { buildForwardedServer, type PutServerBody } from './server-spec.js';
import type { ServerStore } from './store.js';
import { checkTarget } from './target.js';
import { Waiters } from './waiters.js';

export interface ServerServiceDeps {
  store: ServerStore;
  clock: Clock;
  metrics: FacadeMetrics;
  caps: EventCaps;
  /** Attempts of one read-decide-write step before a conflict becomes a 503. */
  writeAttempts?: number;
  /** A long-poll's wait is capped to this many seconds. */
  maxWaitSeconds?: number;
  /** Where direct servers may lead; JumpNodes carry their own policy. */
  directTargets?: DirectTargetPolicy;
}

/** The body of PATCH /api/forwardedservers/{user}[/{server}] (schema-validated). */
export interface PatchTargetBody {
  startId: string;
  target: HostPort;
  /** A JumpNode name or alias. */
  jumpNode?: string;
}

export const MAX_WAIT_SECONDS = 60;

const describe = (user: string, server: string) =>
  server ? `server '${server}' of user '${user}'` : `default server of user '${user}'`;

const describeFs = (fs: ForwardedServer) => describe(fs.spec.user.name, fs.spec.serverName ?? '');

export class ServerService {
  private readonly serializer = new KeyedSerializer();
  private readonly writer: EventWriter;
  private readonly store: ServerStore;
  private readonly attempts: number;
  private readonly waiters: Waiters;
  readonly maxWaitSeconds: number;

  constructor(private readonly deps: ServerServiceDeps) {
    this.store = deps.store;
    this.attempts = deps.writeAttempts ?? 10;
    this.maxWaitSeconds = Math.min(deps.maxWaitSeconds ?? MAX_WAIT_SECONDS, MAX_WAIT_SECONDS);
    this.waiters = new Waiters(deps.metrics);
    this.writer = new EventWriter({
      store: deps.store,
      serializer: this.serializer,
      caps: deps.caps,
      metrics: deps.metrics,
      writeAttempts: this.attempts,
    });
  }

  /**
   * Runs `step` on `first` (the request's lookup), then, after a conflict or a decision that only
   * the source of truth may make (see retryFrom), on a fresh read (404 if it is gone).
   */
  private writeFrom<T>(
    operation: string,
    first: ForwardedServer,
    step: (fs: ForwardedServer, cached: boolean) => Promise<T>,
  ): Promise<T> {
    const get = async () => {
      const fs = await this.store.get(first.metadata.name);
      if (!fs) throw notFound(`No ${describeFs(first)}`);
      return fs;
    };
    return retryFrom(first, get, step, {
      attempts: this.attempts,
      onConflict: () => this.deps.metrics.writeConflicts.inc({ operation }),
    });
  }

  /** The server, or a 404 naming it. Reads come from the cache when it is filled. */
  async find(user: string, server: string): Promise<ForwardedServer> {
    const fs = await this.store.read(serverResourceName(user, server));
    if (!fs || fs.spec.user.name !== user || (fs.spec.serverName ?? '') !== server)
      throw notFound(`No ${describe(user, server)}`);
    return fs;
  }

  /** True once the store's caches are filled. */
  ready(): boolean {
    return this.store.ready();
  }

  private checkStart(fs: ForwardedServer, startId: string | undefined): void {
    if (startId !== undefined && startId !== fs.spec.startId)
      throw conflict(
        `start_id ${JSON.stringify(startId)} is not the current start of ${fs.metadata.name}`,
      );
  }

  /** Validates, sanitises and stores one posted event (see event-ingest.ts, event-writer.ts). */
  async postEvent(
    fs: ForwardedServer,
    body: Record<string, unknown>,
    startId: string | undefined,
  ): Promise<EventOutcome> {
    const { event, failed } = ingestEvent(body, new Date(this.deps.clock.now()));
    this.checkStart(fs, startId);
    return this.writer.submit(fs.metadata.name, { event, failed, startId });
  }

  /** setuptunnel: sets spec.target (and the JumpNode when given) of a server that is not stopping. */
  async setupTunnel(
    found: ForwardedServer,
    target: HostPort,
    sshNode: string | undefined,
    startId: string | undefined,
  ): Promise<void> {
    const checked = checkTarget(target, 'spec.target');
    const jumpNode = sshNode === undefined ? undefined : await this.resolveJumpNode(sshNode);
    await this.checkPolicy(checked, jumpNode ?? found.spec.jumpNodeRef?.name);
    await this.serializer.run(found.metadata.name, () =>
      this.writeFrom('setuptunnel', found, async (fs) => {
        this.checkStart(fs, startId);
        if (isStopping(fs)) throw badRequest(`Bad Request: the ${describeFs(fs)} is stopping`);
        const spec = jumpNode
          ? { target: checked, jumpNodeRef: { name: jumpNode } }
          : { target: checked };
        await this.store.patchSpec(fs.metadata.name, fs.metadata.resourceVersion!, spec);
      }),
    );
  }

  /**
   * PATCH: sets spec.target, and spec.jumpNodeRef when given and unset, only while the start
   * `startId` has no target yet; a stopping server or one with a target is left as it is.
   * 404 for an unknown server, 409 for another start, 400 for a bad target or JumpNode.
   */
  async setTargetOnce(
    user: string,
    server: string,
    body: PatchTargetBody,
  ): Promise<ForwardedServer> {
    const target = checkTarget(body.target, 'spec.target');
    const jumpNode =
      body.jumpNode === undefined ? undefined : await this.resolveJumpNode(body.jumpNode);
    const name = serverResourceName(user, server);
    return this.serializer.run(name, () =>
      this.retry('patch', async () => {
        const fs = await this.store.get(name);
        if (!fs || fs.spec.user.name !== user || (fs.spec.serverName ?? '') !== server)
          throw notFound(`No ${describe(user, server)}`);
        this.checkStart(fs, body.startId);
        if (fs.spec.target || isStopping(fs)) return fs;
        await this.checkPolicy(target, jumpNode ?? fs.spec.jumpNodeRef?.name);
        const spec =
          jumpNode && !fs.spec.jumpNodeRef
            ? { target, jumpNodeRef: { name: jumpNode } }
            : { target };
        return this.store.patchSpec(name, fs.metadata.resourceVersion!, spec);
      }),
    );
  }

  /**
   * A 400 when the target policy refuses the target: the JumpNode's own policy, or the
   * operator-wide one for direct servers. A JumpNode that does not exist is the operator's to
   * report; the runner checks again before it forwards.
   */
  private async checkPolicy(target: HostPort, jumpNode: string | undefined): Promise<void> {
    let node: JumpNode | undefined;
    if (jumpNode) {
      node = (await this.store.jumpNodes()).find((n) => n.metadata.name === jumpNode);
      if (!node) return;
    }
    const problem = targetProblem(target, node, this.deps.directTargets ?? DEFAULT_DIRECT_POLICY);
    if (problem) throw badRequest(`Target not allowed: ${problem}`);
  }

  private retry<T>(operation: string, step: () => Promise<T>): Promise<T> {
    return retryOnConflict(step, {
      attempts: this.attempts,
      onConflict: () => this.deps.metrics.writeConflicts.inc({ operation }),
    });
  }

  /**
   * The JumpNodes a name or alias designates, from the cache; when the cache knows none, from the
   * API server (a JumpNode created a moment ago may not be cached yet).
   */
  private async findJumpNodes(nameOrAlias: string) {
    const cached = matchJumpNodes(await this.store.jumpNodes(), nameOrAlias);
    if (cached.length) return cached;
    return matchJumpNodes(await this.store.jumpNodes(true), nameOrAlias);
  }

  /** The one JumpNode a name or alias designates, else a 400 explaining why not. */
  async resolveJumpNode(nameOrAlias: string): Promise<string> {
    const matches = await this.findJumpNodes(nameOrAlias);
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
    const matches = await this.findJumpNodes(node);
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
    const checked: PutServerBody = { ...body };
    if (body.target) checked.target = checkTarget(body.target, 'spec.target');
    if (body.remoteForward)
      checked.remoteForward = {
        ...body.remoteForward,
        target: checkTarget(body.remoteForward.target, 'spec.remoteForward.target'),
      };
    const jumpNode = body.jumpNode ? await this.resolveJumpNode(body.jumpNode) : undefined;
    if (checked.target) await this.checkPolicy(checked.target, jumpNode);
    const id = { namespace: this.store.namespace, user, server };
    const desired = buildForwardedServer(id, checked, jumpNode);
    const name = desired.metadata.name;
    return this.serializer.run(name, async () => {
      const result = await this.retry('put', () => this.putStep(desired));
      if (!result.created && result.newStart)
        result.fs = await this.resetEvents(result.fs, body.startId);
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
  private resetEvents(replaced: ForwardedServer, startId: string): Promise<ForwardedServer> {
    return this.writeFrom('put', replaced, async (fs) => {
      const s = fs.status ?? {};
      if (
        fs.spec.startId !== startId ||
        (!s.events?.length && !s.eventsDropped && !s.terminalEvent)
      )
        return fs;
      return this.store.applyStatus(fs.metadata.name, fs.metadata.resourceVersion!, {
        events: [],
        eventsDropped: 0,
      });
    });
  }

  /**
   * The long-poll: resolves with the server once more than `after` events exist or anything else
   * a poller waits for changed (changedSince), after `waitSeconds` (capped), or on close().
   * Resolves with undefined when the server was deleted meanwhile.
   */
  waitForChange(
    first: ForwardedServer,
    after: number,
    waitSeconds: number,
  ): Promise<ForwardedServer | undefined> {
    const { store, clock } = this.deps;
    const name = first.metadata.name;
    return new Promise((resolve) => {
      let latest: ForwardedServer | undefined = first;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        unsubscribe();
        clock.clearTimeout(timer);
        release();
        resolve(latest);
      };
      const release = this.waiters.add(finish);
      const timer = clock.setTimeout(finish, Math.min(waitSeconds, this.maxWaitSeconds) * 1000);
      const unsubscribe = store.subscribe(name, () => {
        store.read(name).then(
          (fs) => {
            latest = fs;
            if (changedSince(first, after, fs)) finish();
          },
          () => finish(),
        );
      });
    });
  }

  /** Sets spec.cancelRequested (idempotent); 409 when `startId` is not the current start. */
  async cancel(found: ForwardedServer, startId?: string): Promise<'cancelled' | 'alreadyStopping'> {
    return this.serializer.run(found.metadata.name, () =>
      this.writeFrom('cancel', found, async (fs, cached) => {
        this.checkStart(fs, startId);
        if (isStopping(fs)) {
          if (cached) throw new Recheck();
          return 'alreadyStopping';
        }
        await this.store.patchSpec(fs.metadata.name, fs.metadata.resourceVersion!, {
          cancelRequested: true,
        });
        return 'cancelled';
      }),
    );
  }

  async delete(fs: ForwardedServer): Promise<void> {
    const existed = await this.serializer.run(fs.metadata.name, () =>
      this.store.delete(fs.metadata.name),
    );
    if (!existed) throw notFound(`No ${describeFs(fs)}`);
  }

  /** Ends every open long-poll at once (on shutdown). */
  close(): void {
    this.waiters.closeAll();
  }
}
