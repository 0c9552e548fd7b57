// Least privilege, proved against the real API server with the manifests' RBAC and admission
// policies: each identity (runner, facade, operator) is used with a real ServiceAccount token or
// through impersonation, and the test shows what it can NOT do as well as that its own work
// still goes through.
import type * as k8s from '@kubernetes/client-node';
import {
  API_VERSION,
  RESTARTED_AT_ANNOTATION,
  type ForwardedServer,
  type JumpNode,
} from '../../src/api/types.js';
import {
  apiMessage,
  apiStatus,
  makeClients,
  mergePatch,
  type Clients,
} from '../../src/kube/client.js';
import { LABELS, RUNNER_FIELD_MANAGER, runnerName } from '../../src/names.js';
import type { RunningOperator } from '../../src/operator/operator.js';
import {
  buildRunnerRole,
  buildRunnerRoleBinding,
  buildRunnerServiceAccount,
} from '../../src/resources/runner.js';
import { createNamespace, kubeConfig, serviceAccountToken } from '../harness/cluster.js';
import { client, facadeKubeConfig, startTestFacade, type TestFacade } from './facade-cluster.js';
import {
  allowRunnerKeys,
  canI,
  eventually,
  forwardedServer,
  jumpNode,
  startInProcess,
  testBed,
} from './operator-support.js';

jest.setTimeout(120_000);

const bed = testBed();
const { info, admin, N, deployment, events, service } = bed;
const CONDITION_TIME = '2026-01-01T00:00:00Z';

beforeAll(() => bed.open('sec'));
afterAll(() => bed.close());

/** Clients with a real token of a ServiceAccount of the test namespace. */
async function clientsOf(sa: string): Promise<Clients> {
  return makeClients(kubeConfig(info, { token: await serviceAccountToken(info, N(), sa) }));
}

/** Resolves to the HTTP status and message of a refused call, or 'allowed'. */
async function outcome(call: () => Promise<unknown>): Promise<'allowed' | string> {
  try {
    await call();
    return 'allowed';
  } catch (err) {
    return `${apiStatus(err)}: ${apiMessage(err)}`;
  }
}

const can = (user: string, args: string[]) => canI(info, user, args);

const condition = (type: string, status = 'True') => ({
  type,
  status,
  reason: 'Test',
  message: 'written by the test',
  lastTransitionTime: CONDITION_TIME,
});

describe('a tunnel runner (its own ServiceAccount token, the Role the operator gives it)', () => {
  let runner: Clients;
  const apply = (name: string, status: Record<string, unknown>, kind = 'ForwardedServer') =>
    outcome(() =>
      (kind === 'ForwardedServer' ? runner.forwardedServers : runner.jumpNodes).applyStatus(
        N(),
        name,
        API_VERSION,
        kind,
        status as never,
        RUNNER_FIELD_MANAGER,
      ),
    );
  const patchStatus = (name: string, status: Record<string, unknown>) =>
    outcome(() =>
      runner.forwardedServers.applyStatus(
        N(),
        name,
        API_VERSION,
        'ForwardedServer',
        status as never,
        'other-manager',
      ),
    );

  beforeAll(async () => {
    const own = jumpNode(N(), 'hpc');
    const created = await admin.jumpNodes.create(N(), own);
    await admin.jumpNodes.create(N(), jumpNode(N(), 'other'));
    for (const build of [buildRunnerServiceAccount, buildRunnerRole, buildRunnerRoleBinding]) {
      const body = build(created) as k8s.KubernetesObject;
      await admin.objects.create(body);
    }
    for (const [user, node] of [
      ['alice', 'hpc'],
      ['mallory', 'other'],
    ] as const) {
      const fs = forwardedServer(N(), user, '', {
        jumpNodeRef: { name: node },
        target: { host: 'node1', port: 8888 },
      });
      await admin.forwardedServers.create(N(), fs);
      // What the operator writes: url, phase, runnerPort and Ready.
      await admin.forwardedServers.applyStatus(
        N(),
        fs.metadata.name,
        API_VERSION,
        'ForwardedServer',
        {
          url: `http://${fs.metadata.name}.${N()}.svc:8888`,
          phase: 'Connecting',
          runnerPort: 20000,
          conditions: [condition('Ready', 'False')],
        },
        'jupyterhub-forward-operator',
      );
    }
    runner = await clientsOf(runnerName('hpc'));
  });

  it('still writes TunnelReady and TargetReachable of its own servers', async () => {
    expect(
      await apply('jupyter-alice', {
        conditions: [condition('TunnelReady'), condition('TargetReachable')],
      }),
    ).toBe('allowed');
    const fs: ForwardedServer = await admin.forwardedServers.get(N(), 'jupyter-alice');
    expect(fs.status?.conditions?.map((c) => c.type).sort()).toEqual([
      'Ready',
      'TargetReachable',
      'TunnelReady',
    ]);
  });

  it.each([
    ['status.url', { url: 'http://attacker.example.org:80' }],
    ['status.phase', { phase: 'Ready' }],
    ['status.runnerPort', { runnerPort: 20001 }],
    ['status.events', { events: [{ message: 'fake', progress: 100 }] }],
    ['status.terminalEvent', { terminalEvent: { message: 'fake', failed: true } }],
    ['the Ready condition', { conditions: [condition('Ready')] }],
    ['a condition of a new type', { conditions: [condition('Hijacked')] }],
  ])('cannot change %s of its own servers', async (_what, status) => {
    const result = await patchStatus('jupyter-alice', status);
    expect(result).toMatch(
      /^403: .*ValidatingAdmissionPolicy 'jupyterhub-forward-operator-runner-status'/,
    );
    const fs = await admin.forwardedServers.get(N(), 'jupyter-alice');
    expect(fs.status?.url).toBe(`http://jupyter-alice.${N()}.svc:8888`);
    expect(fs.status?.phase).toBe('Connecting');
  });

  it("cannot write the status of another JumpNode's server", async () => {
    expect(await apply('jupyter-mallory', { conditions: [condition('TunnelReady')] })).toMatch(
      /^403: .*may write the status only of its own JumpNode hpc/,
    );
    const fs = await admin.forwardedServers.get(N(), 'jupyter-mallory');
    expect(fs.status?.conditions?.map((c) => c.type)).toEqual(['Ready']);
  });

  it('writes Connected, connectedSince and lastRestartHandled of its JumpNode and nothing else', async () => {
    expect(
      await apply(
        'hpc',
        {
          conditions: [condition('Connected')],
          connectedSince: CONDITION_TIME,
          lastRestartHandled: 'r1',
        },
        'JumpNode',
      ),
    ).toBe('allowed');
    expect(await apply('hpc', { forwards: 7 }, 'JumpNode')).toMatch(/^403: .*ValidatingAdmission/);
    expect(await apply('hpc', { conditions: [condition('Ready')] }, 'JumpNode')).toMatch(
      /^403: .*ValidatingAdmission/,
    );
    expect(await apply('other', { conditions: [condition('Connected')] }, 'JumpNode')).toMatch(
      /^403: /,
    );
  });

  it('cannot read Secrets nor change any spec', async () => {
    const user = `system:serviceaccount:${N()}:${runnerName('hpc')}`;
    expect(await can(user, ['get', 'secrets', '-n', N()])).toMatch(/no/);
    expect(await can(user, ['get', 'secrets/hpc-key', '-n', N()])).toMatch(/no/);
    expect(
      await can(user, ['patch', 'forwardedservers.forward.hub.jupyter.org', '-n', N()]),
    ).toMatch(/no/);
    expect(await can(user, ['patch', 'jumpnodes.forward.hub.jupyter.org', '-n', N()])).toMatch(
      /no/,
    );
  });
});

describe('the facade (its ServiceAccount and Role from manifests/facade)', () => {
  let facade: Clients;
  const SA = 'jupyterhub-forward-facade';

  beforeAll(async () => {
    facade = makeClients(await facadeKubeConfig(info, N()));
    await admin.jumpNodes.create(N(), jumpNode(N(), 'facade-target'));
  });

  const patch = (body: Record<string, unknown>) =>
    outcome(() => facade.jumpNodes.patch(N(), 'facade-target', body));

  it('requests a restart (the restarted-at annotation), again and again', async () => {
    for (const at of ['2026-01-01T00:00:00Z', '2026-01-01T00:05:00Z'])
      expect(await patch({ metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: at } } })).toBe(
        'allowed',
      );
    const jn: JumpNode = await admin.jumpNodes.get(N(), 'facade-target');
    expect(jn.metadata.annotations?.[RESTARTED_AT_ANNOTATION]).toBe('2026-01-01T00:05:00Z');
  });

  it.each([
    ['spec.insecureSkipHostKeyCheck', { spec: { insecureSkipHostKeyCheck: true } }],
    ['spec.runner.image', { spec: { runner: { image: 'evil.example.org/x:1' } } }],
    ['spec.privateKeySecretRef', { spec: { privateKeySecretRef: { name: 'facade-tokens' } } }],
    ['spec.host', { spec: { host: 'attacker.example.org' } }],
    ['another annotation', { metadata: { annotations: { 'example.org/x': '1' } } }],
    ['a label', { metadata: { labels: { 'example.org/x': '1' } } }],
  ])('cannot change %s of a JumpNode', async (_what, body) => {
    expect(await patch(body)).toMatch(
      /^403: .*ValidatingAdmissionPolicy 'jupyterhub-forward-operator-facade-jumpnodes'/,
    );
    const jn: JumpNode = await admin.jumpNodes.get(N(), 'facade-target');
    expect(jn.spec.host).toBe('login.example.org');
    expect(jn.spec.insecureSkipHostKeyCheck ?? false).toBe(false);
  });

  it('cannot create or delete JumpNodes, nor read Secrets', async () => {
    const user = `system:serviceaccount:${N()}:${SA}`;
    expect(await can(user, ['create', 'jumpnodes.forward.hub.jupyter.org', '-n', N()])).toMatch(
      /no/,
    );
    expect(await can(user, ['delete', 'jumpnodes.forward.hub.jupyter.org', '-n', N()])).toMatch(
      /no/,
    );
    expect(await can(user, ['get', 'secrets', '-n', N()])).toMatch(/no/);
  });
});

describe('the operator (the restricted operator user, the manifests RBAC)', () => {
  let op: RunningOperator | undefined;
  const user = info.users.operator.name;

  afterAll(async () => {
    await op?.close();
  });

  it('holds no Secret access cluster-wide; only `get` where an admin bound it', async () => {
    expect(await can(user, ['get', 'secrets', '-n', 'kube-system'])).toMatch(/no/);
    expect(await can(user, ['list', 'secrets', '--all-namespaces'])).toMatch(/no/);
    expect(await can(user, ['get', 'secrets', '-n', N()])).toMatch(/no/);
    await allowRunnerKeys(admin, info, N(), ['good']);
    expect(await can(user, ['get', 'secrets', '-n', N()])).toMatch(/^yes/);
    expect(await can(user, ['list', 'secrets', '-n', N()])).toMatch(/no/);
    expect(await can(user, ['watch', 'secrets', '-n', N()])).toMatch(/no/);
  });

  it('runs a runner only with a key Secret that opted in and an allowed image', async () => {
    await admin.core.createNamespacedSecret({
      namespace: N(),
      body: { metadata: { name: 'hub-secret' }, stringData: { token: 'the hub token' } },
    });
    op = await startInProcess(info, N());
    const ready = (name: string) =>
      eventually(`JumpNode ${name} to get a Ready condition`, async () => {
        const jn: JumpNode = await admin.jumpNodes.get(N(), name);
        return jn.status?.conditions?.find((c) => c.type === 'Ready');
      });
    const runnerDeployment = (name: string) => deployment(runnerName(name));

    await admin.jumpNodes.create(
      N(),
      jumpNode(N(), 'stolen', { privateKeySecretRef: { name: 'hub-secret', key: 'token' } }),
    );
    await admin.jumpNodes.create(
      N(),
      jumpNode(N(), 'miner', {
        privateKeySecretRef: { name: 'good-key' },
        runner: { image: 'evil.example.org/miner:1' },
      }),
    );
    await admin.jumpNodes.create(
      N(),
      jumpNode(N(), 'master', {
        privateKeySecretRef: { name: 'good-key' },
        runner: {
          tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }],
        },
      }),
    );
    await admin.jumpNodes.create(N(), jumpNode(N(), 'good'));

    expect(await ready('stolen')).toMatchObject({ status: 'False', reason: 'KeySecretNotAllowed' });
    expect(await ready('miner')).toMatchObject({ status: 'False', reason: 'ImageNotAllowed' });
    expect(await ready('master')).toMatchObject({
      status: 'False',
      reason: 'TolerationNotAllowed',
    });
    const hpc = await eventually('the runner Deployment of good', () => runnerDeployment('good'));
    const pod = hpc.spec!.template.spec!;
    expect(pod.volumes?.[0]?.secret).toMatchObject({ secretName: 'good-key', optional: true });
    for (const name of ['stolen', 'miner', 'master']) {
      expect(await runnerDeployment(name)).toBeUndefined();
      const warned = await eventually(`a Warning Event on ${name}`, async () =>
        (await events(name)).find((e) => e.type === 'Warning'),
      );
      expect(warned.note).toMatch(/not allowed|not labelled/);
    }
    const role = await admin.rbac.readNamespacedRole({ name: runnerName('good'), namespace: N() });
    expect(role.rules?.some((r) => r.resources?.includes('secrets'))).toBe(false);

    // The admin labels the Secret: the runner follows without a change to the JumpNode.
    await admin.core.patchNamespacedSecret(
      {
        name: 'hub-secret',
        namespace: N(),
        body: { metadata: { labels: { [LABELS.runnerKey]: 'true' } } },
      },
      mergePatch,
    );
    await eventually('the runner Deployment of stolen once its Secret opted in', () =>
      runnerDeployment('stolen'),
    );
  });

  it('refuses a target the policy forbids with a condition and an Event, and makes nothing', async () => {
    const mk = (user: string, spec: Partial<ForwardedServer['spec']>) =>
      admin.forwardedServers.create(N(), forwardedServer(N(), user, '', spec));
    await mk('loop', { jumpNodeRef: { name: 'good' }, target: { host: '127.0.0.1', port: 22 } });
    await mk('apisvc', { target: { host: '10.96.0.1', port: 443 } });
    await mk('fine', { jumpNodeRef: { name: 'good' }, target: { host: '10.20.1.1', port: 8888 } });
    for (const name of ['jupyter-loop', 'jupyter-apisvc']) {
      const ready = await eventually(`${name} to be refused`, async () => {
        const fs: ForwardedServer = await admin.forwardedServers.get(N(), name);
        const c = fs.status?.conditions?.find((x) => x.type === 'Ready');
        return c?.reason === 'TargetNotAllowed' ? { c, fs } : undefined;
      });
      expect(ready.c.status).toBe('False');
      expect(ready.fs.status?.phase).toBe('Failed');
      expect(ready.fs.status?.runnerPort).toBeUndefined();
      expect(ready.fs.status?.url).toBeUndefined();
      expect(await service(name)).toBeUndefined();
      const warned = await eventually(`a Warning Event on ${name}`, async () =>
        (await events(name)).find((e) => e.type === 'Warning' && e.reason === 'TargetNotAllowed'),
      );
      expect(warned.note).toMatch(/loopback|cluster range/);
    }
    const fine = await eventually('the allowed server to get a port', async () => {
      const fs: ForwardedServer = await admin.forwardedServers.get(N(), 'jupyter-fine');
      return fs.status?.runnerPort ? fs : undefined;
    });
    expect(fine.status?.url).toBeDefined();
    const claims = await admin.coordination.listNamespacedLease({
      namespace: N(),
      labelSelector: `${LABELS.forwardedServer}=jupyter-loop`,
    });
    expect(claims.items).toEqual([]);
  });

  it('reports a name or alias shared by two JumpNodes on both', async () => {
    await admin.jumpNodes.create(N(), jumpNode(N(), 'login-a', { aliases: ['login'] }));
    await admin.jumpNodes.create(N(), jumpNode(N(), 'login'));
    const names = (name: string) =>
      eventually(`NamesUnique=False on ${name}`, async () => {
        const jn: JumpNode = await admin.jumpNodes.get(N(), name);
        const c = jn.status?.conditions?.find((x) => x.type === 'NamesUnique');
        return c?.status === 'False' ? c : undefined;
      });
    expect((await names('login-a')).message).toMatch(/"login" also designates JumpNode login/);
    expect((await names('login')).message).toMatch(/"login" also designates JumpNode login-a/);
    await admin.jumpNodes.delete(N(), 'login');
    await eventually('NamesUnique=True on login-a once the impostor is gone', async () => {
      const jn: JumpNode = await admin.jumpNodes.get(N(), 'login-a');
      return jn.status?.conditions?.find((x) => x.type === 'NamesUnique')?.status === 'True';
    });
  });
});

describe('the facade refuses targets the policy forbids and ambiguous jump node names (real requests)', () => {
  const T = {
    hub: 'hub-token-0123456789abcdef-sec',
    outpost: 'outpost-token-0123456789abcdef-sec',
    alice: 'alice-server-token-0123456789-sec',
  };
  const TOKENS = `
hub: {token: ${T.hub}, scopes: [servers, access:servers, custom:servers:list]}
outpost: {token: ${T.outpost}, scopes: [access:servers, custom:servers:list]}
alice: {token: ${T.alice}, scopes: ["access:servers!server=alice/nb"]}
`;
  let fns: { name: string; cleanup: () => Promise<void> };
  let facade: TestFacade;
  let call: ReturnType<typeof client>;
  const spec = async (name: string) => (await admin.forwardedServers.get(fns.name, name)).spec;

  beforeAll(async () => {
    fns = await createNamespace(kubeConfig(info), 'secf');
    facade = await startTestFacade(await facadeKubeConfig(info, fns.name), fns.name, TOKENS);
    call = client(facade.url);
    await admin.jumpNodes.create(
      fns.name,
      jumpNode(fns.name, 'hpc-login', { aliases: ['hpc'], host: 'login.hpc.example.org' }),
    );
    await admin.jumpNodes.create(
      fns.name,
      jumpNode(fns.name, 'fenced', {
        targetPolicy: {
          allowedCIDRs: ['10.20.0.0/16'],
          allowedPorts: [{ start: 8000, end: 8999 }],
        },
      }),
    );
    expect(
      (
        await call('PUT', '/api/forwardedservers/alice/nb', T.hub, {
          userId: 1,
          startId: 's1',
          jumpNode: 'hpc-login',
        })
      ).status,
    ).toBe(201);
  });

  afterAll(async () => {
    await facade?.close();
    await fns?.cleanup();
  });

  const tunnel = (service: string, extra: Record<string, string> = {}) =>
    call('POST', '/api/users/setuptunnel/alice/nb', T.alice, { service, ...extra });

  it.each([
    ['127.0.0.1:22', /loopback/],
    ['localhost:22', /localhost/],
    ['[::1]:22', /loopback/],
    ['169.254.169.254:80', /link-local/],
    ['login.hpc.example.org:22', /own address/],
  ])("a notebook's own token cannot point its tunnel at %s", async (service, why) => {
    const res = await tunnel(service);
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/^Target not allowed: /);
    expect(res.json.message).toMatch(why);
    expect((await spec('jupyter-alice--nb')).target).toBeUndefined();
  });

  it("keeps the tunnel inside a JumpNode's allowed CIDRs and ports", async () => {
    for (const [service, status] of [
      ['10.20.1.2:8888', 204],
      ['10.21.1.2:8888', 400],
      ['10.20.1.2:22', 400],
      ['node1.example.org:8888', 400],
    ] as const)
      expect([service, (await tunnel(service, { ssh_node: 'fenced' })).status]).toEqual([
        service,
        status,
      ]);
    expect((await spec('jupyter-alice--nb')).target).toEqual({ host: '10.20.1.2', port: 8888 });
  });

  it('refuses a PUT whose target the policy forbids, tunnelled or direct', async () => {
    const put = (server: string, body: Record<string, unknown>) =>
      call('PUT', `/api/forwardedservers/bob/${server}`, T.hub, {
        userId: 2,
        startId: 'b1',
        ...body,
      });
    for (const [server, body, why] of [
      ['a', { jumpNode: 'hpc', target: { host: '127.0.0.1', port: 22 } }, /loopback/],
      ['b', { target: { host: '10.96.0.1', port: 443 } }, /cluster range 10.96.0.0\/12/],
      ['c', { target: { host: 'kubernetes.default.svc', port: 443 } }, /DNS domain/],
    ] as const) {
      const res = await put(server, body);
      expect(res.status).toBe(400);
      expect(res.json.message).toMatch(why);
      expect(
        await admin.forwardedServers.get(fns.name, `jupyter-bob--${server}`).catch(() => 'none'),
      ).toBe('none');
    }
    expect((await put('d', { target: { host: '10.20.30.40', port: 8888 } })).status).toBe(201);
  });

  it("refuses a name that is also another JumpNode's alias instead of letting the name win", async () => {
    expect((await tunnel('10.20.1.3:8888', { ssh_node: 'hpc' })).status).toBe(204);
    expect((await spec('jupyter-alice--nb')).jumpNodeRef).toEqual({ name: 'hpc-login' });
    // A JumpNode writer creates one named like the real node's alias.
    await admin.jumpNodes.create(fns.name, jumpNode(fns.name, 'hpc'));
    const res = await tunnel('10.20.1.4:8888', { ssh_node: 'hpc' });
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/ambiguous: hpc-login, hpc|ambiguous: hpc, hpc-login/);
    expect((await spec('jupyter-alice--nb')).jumpNodeRef).toEqual({ name: 'hpc-login' });
  });
});
