// The supervised informer's transform, against a fake API server that serves one list and one
// watch stream over HTTP (the real client-node ListWatch and Watch talk to it).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { makeSupervisedInformer, type SupervisedInformer } from '../../src/kube/informer.js';
import { silentLogger } from '../../src/log.js';
import { trimServer } from '../../src/runner/watch.js';

const PATH = '/apis/forward.hub.jupyter.org/v1alpha1/namespaces/ns/forwardedservers';

/** A ForwardedServer as the API returns it once the operator, facade and runner wrote to it. */
function server(name: string, resourceVersion: string) {
  return {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'ForwardedServer',
    metadata: {
      name,
      namespace: 'ns',
      resourceVersion,
      generation: 1,
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { app: 'jupyterhub' },
      managedFields: [
        { manager: 'jupyterhub-forward-operator', operation: 'Apply', subresource: 'status' },
        { manager: 'jupyterhub-forward-runner', operation: 'Apply', subresource: 'status' },
      ],
    },
    spec: {
      user: { name, id: 1 },
      startId: 's',
      jumpNodeRef: { name: 'hpc' },
      target: { host: '10.0.0.1', port: 8888 },
    },
    status: {
      phase: 'Ready',
      runnerPort: 30000,
      url: `http://${name}.ns.svc:8888`,
      conditions: [
        {
          type: 'TunnelReady',
          status: 'True',
          reason: 'Listening',
          message: 'm',
          lastTransitionTime: '2026-01-01T00:00:01Z',
          observedGeneration: 1,
        },
      ],
      events: [{ progress: 100, message: 'Server ready' }],
      terminalEvent: { progress: 100, failed: true, message: 'gone' },
    },
  };
}

type Fs = ReturnType<typeof server>;
const asFs = (o: KubernetesObject | undefined) => o as unknown as Fs;

/** Serves the list with `a`, then a watch that sends MODIFIED `b` and stays open. */
async function fakeApiServer() {
  const watches: http.ServerResponse[] = [];
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    res.setHeader('Content-Type', 'application/json');
    if (url.pathname !== PATH) return void res.writeHead(404).end('{}');
    if (url.searchParams.get('watch') !== 'true')
      return void res.end(
        JSON.stringify({
          kind: 'ForwardedServerList',
          metadata: { resourceVersion: '10' },
          items: [server('a', '10')],
        }),
      );
    res.writeHead(200);
    watches.push(res);
    res.write(`${JSON.stringify({ type: 'MODIFIED', object: server('b', '11') })}\n`);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return {
    kc,
    close: () =>
      new Promise<void>((r) => {
        for (const w of watches) w.destroy();
        srv.close(() => r());
      }),
  };
}

async function informerOf(
  kc: KubeConfig,
  transform?: (o: KubernetesObject) => KubernetesObject,
): Promise<{ inf: SupervisedInformer<KubernetesObject>; handled: KubernetesObject[] }> {
  const inf = makeSupervisedInformer<KubernetesObject>(kc, {
    name: 'ForwardedServer',
    path: PATH,
    list: async () => {
      const res = await fetch(`${kc.getCurrentCluster()!.server}${PATH}`);
      return (await res.json()) as never;
    },
    log: silentLogger(),
    ...(transform ? { transform } : {}),
  });
  const handled: KubernetesObject[] = [];
  inf.on('add', (o) => handled.push(o));
  await inf.start();
  // The watch's object arrives after the list.
  for (let i = 0; i < 200 && !inf.get('b', 'ns'); i++) await new Promise((r) => setTimeout(r, 10));
  return { inf, handled };
}

describe('supervised informer transform', () => {
  let api: Awaited<ReturnType<typeof fakeApiServer>>;
  beforeEach(async () => (api = await fakeApiServer()));
  afterEach(async () => api.close());

  it('drops metadata.managedFields by default, from listed and watched objects alike', async () => {
    const { inf, handled } = await informerOf(api.kc);
    try {
      const a = inf.get('a', 'ns')!;
      const b = inf.get('b', 'ns')!;
      expect(b).toBeDefined();
      for (const o of [a, b]) {
        expect(o.metadata!.managedFields).toBeUndefined();
        // Everything else is kept.
        const { managedFields: _, ...meta } = server(o.metadata!.name!, '').metadata;
        expect(o.metadata).toEqual({ ...meta, resourceVersion: o.metadata!.resourceVersion });
        expect(asFs(o).status).toEqual(server(o.metadata!.name!, '').status);
        expect(asFs(o).spec).toEqual(server(o.metadata!.name!, '').spec);
      }
      // Handlers see the trimmed objects too.
      expect(handled.map((o) => o.metadata!.managedFields)).toEqual([undefined, undefined]);
    } finally {
      await inf.stop();
    }
  });

  it("caches what the runner's transform leaves: no progress events, the rest as listed", async () => {
    const { inf, handled } = await informerOf(api.kc, trimServer);
    try {
      for (const name of ['a', 'b']) {
        const o = asFs(inf.get(name, 'ns'));
        const full = server(name, o.metadata.resourceVersion);
        expect(o.metadata.managedFields).toBeUndefined();
        expect(o.status.events).toBeUndefined();
        expect(o.status.terminalEvent).toBeUndefined();
        const { events: _e, terminalEvent: _t, ...status } = full.status;
        expect(o.status).toEqual(status);
        expect(o.spec).toEqual(full.spec);
        expect(o.metadata.generation).toBe(1);
        expect(o.metadata.creationTimestamp).toBe(full.metadata.creationTimestamp);
      }
      expect(handled).toHaveLength(2);
    } finally {
      await inf.stop();
    }
  });
});
