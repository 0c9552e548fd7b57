// The Helm chart (charts/jupyterhub-forward-operator) with the Helm built by
// scripts/build-testbin.sh: its default render is object for object what `kubectl kustomize
// manifests/` renders, `helm lint` finds nothing, bad values are refused with a message naming
// the value, and an install with non-default values creates its objects, with those values and
// that RBAC, on the real API server.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { runPod } from '../harness/kubelet.js';
import { kubectl, kubectlResult, type KubectlResult } from '../harness/kubectl.js';
import { runnerName } from '../../src/names.js';
import { adminClients, eventually, jumpNode } from './operator-support.js';

jest.setTimeout(180_000);

const CHART = 'charts/jupyterhub-forward-operator';
const info = clusterInfo();
let helmHome: string;

beforeAll(async () => {
  helmHome = await mkdtemp(join(tmpdir(), 'jfo-helm-'));
});
afterAll(async () => rm(helmHome, { recursive: true, force: true }));

/** Runs helm (never through a shell) with its state in a temporary directory. */
function helmResult(args: string[]): Promise<KubectlResult> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: helmHome,
    KUBECONFIG: info.kubeconfigPath,
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
  };
  return new Promise((resolve) => {
    execFile(
      join(info.binDir, 'helm'),
      args,
      { env, maxBuffer: 32 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Helm's stderr without its notice that a file is read through a symbolic link (the chart's
 * crds/ link to the repository's crds/, see decision 0055). */
const otherStderr = (stderr: string) =>
  stderr.split('\n').filter((l) => l !== '' && !/found symbolic link in path/.test(l));

async function helm(args: string[]): Promise<string> {
  const r = await helmResult(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

type Obj = Record<string, unknown> & { metadata?: { name?: string; namespace?: string } };

/**
 * CEL expressions (admission policies, CRD validation rules) with each run of white space as
 * one space: kustomize re-emits a folded block scalar with more-indented lines as a literal one
 * with an extra blank line, which changes the string but not the expression.
 */
function normaliseCel(value: unknown, key = ''): unknown {
  if (typeof value === 'string')
    return /^(expression|messageExpression|rule)$/.test(key) ? value.replace(/\s+/g, ' ') : value;
  if (Array.isArray(value)) return value.map((v) => normaliseCel(v));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normaliseCel(v, k)]));
  return value;
}

/** Objects of a multi-document YAML stream keyed by apiVersion/kind/namespace/name. */
function byKey(yamlText: string): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors[0]!.message}`);
    const obj = normaliseCel(doc.toJS()) as Obj | null;
    if (obj === null) continue;
    const key = `${String(obj.apiVersion)}/${String(obj.kind)}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    if (out.has(key)) throw new Error(`Rendered twice: ${key}`);
    out.set(key, obj);
  }
  return out;
}

const kustomizeRender = async () => byKey(await kubectl(info, ['kustomize', 'manifests/']));

describe('the default render', () => {
  it('is object for object `kubectl kustomize manifests/` (CRDs included)', async () => {
    const [chart, manifests] = await Promise.all([
      helm(['template', 'jfo', CHART, '--include-crds']).then(byKey),
      kustomizeRender(),
    ]);
    // The kustomize render has every kind the chart must cover; the same keys on both sides.
    expect([...manifests.keys()].sort()).toEqual([...chart.keys()].sort());
    expect(manifests.size).toBeGreaterThanOrEqual(13);
    for (const [key, obj] of manifests)
      expect({ key, obj: chart.get(key) }).toStrictEqual({ key, obj });
  });

  it('with operator.watchNamespaces [jhub], installed in jhub, is `kubectl kustomize manifests/namespaced/`', async () => {
    const [chart, manifests] = await Promise.all([
      helm([
        'template',
        'jfo',
        CHART,
        '--include-crds',
        '-n',
        'jhub',
        '--set',
        'operator.watchNamespaces={jhub}',
      ]).then(byKey),
      kubectl(info, ['kustomize', 'manifests/namespaced/']).then(byKey),
    ]);
    expect([...manifests.keys()].sort()).toEqual([...chart.keys()].sort());
    expect([...chart.keys()].filter((k) => k.includes('/ClusterRoleBinding/'))).toEqual([]);
    for (const [key, obj] of manifests)
      expect({ key, obj: chart.get(key) }).toStrictEqual({ key, obj });
  });

  it('does not depend on the release namespace (the facade goes to the release namespace)', async () => {
    const a = await helm(['template', 'jfo', CHART, '--include-crds']);
    const b = await helm(['template', 'other', CHART, '--include-crds', '-n', 'hub-elsewhere']);
    expect(b).toEqual(a);
  });
});

describe('helm lint', () => {
  it('finds nothing with the default values, strict', async () => {
    const r = await helmResult(['lint', '--strict', CHART]);
    expect(otherStderr(r.stderr)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(r.stdout).not.toMatch(/\[(INFO|WARNING|ERROR)\]/);
  });

  it('finds nothing with every optional value set', async () => {
    const r = await helmResult([
      'lint',
      '--strict',
      CHART,
      '--set-json',
      JSON.stringify({
        image: { repository: 'registry.example.org/jfo', tag: '1.2.3', pullPolicy: 'Always' },
        imagePullSecrets: ['regcred'],
        operator: {
          watchNamespaces: ['hub'],
          workers: 8,
          resyncSeconds: 600,
          jumpNodeGraceSeconds: 30,
          leaderElection: {
            leaseDurationSeconds: 30,
            renewDeadlineSeconds: 20,
            retryPeriodSeconds: 4,
          },
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [{ key: 'dedicated', operator: 'Exists' }],
          extraEnv: [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/ca.pem' }],
        },
        runner: {
          image: 'registry.example.org/runner:1',
          imagePullPolicy: 'IfNotPresent',
          logLevel: 'debug',
          allowedImages: ['registry.example.org/jfo/*'],
          allowedTolerationKeys: ['hpc-gateway'],
        },
        directTargets: { clusterCidrs: ['10.0.0.0/16'], allowedCidrs: ['192.0.2.0/24'] },
        facade: {
          namespace: 'hub',
          hubTimeoutSeconds: 10,
          tokensSecret: { name: 'tokens', key: 'facade.yaml' },
          staticTokensReloadSeconds: 5,
          bodyLimitBytes: 65536,
          eventsMaxCount: 50,
          eventsMaxBytes: 65536,
          maxWaitSeconds: 30,
          service: { type: 'NodePort', port: 80 },
        },
      }),
    ]);
    expect(otherStderr(r.stderr)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\[(INFO|WARNING|ERROR)\]/);
  });
});

describe('the zero-to-jupyterhub example (examples/z2jh/operator-values.yaml)', () => {
  it('lints clean and renders the operator watching the hub namespace only', async () => {
    const values = ['-f', 'examples/z2jh/operator-values.yaml'];
    const lint = await helmResult(['lint', '--strict', CHART, ...values]);
    expect(lint.code).toBe(0);
    expect(lint.stdout).not.toMatch(/\[(INFO|WARNING|ERROR)\]/);
    const objs = byKey(await helm(['template', 'jfo', CHART, '-n', 'jhub', ...values]));
    const op = objs.get('apps/v1/Deployment/jfo-system/jupyterhub-forward-operator') as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(op.spec.template.spec.containers[0].env[0]).toEqual({
      name: 'JFO_NAMESPACE',
      value: 'jhub',
    });
    expect(objs.has('rbac.authorization.k8s.io/v1/RoleBinding//jupyterhub-forward-operator')).toBe(
      true,
    );
    expect([...objs.keys()].filter((k) => k.includes('/ClusterRoleBinding/'))).toEqual([]);
    const facade = objs.get('apps/v1/Deployment//jupyterhub-forward-facade') as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(facade.spec.template.metadata.labels['hub.jupyter.org/network-access-hub']).toBe('true');
  });
});

describe('bad values', () => {
  const refused = async (set: string[]) => {
    const r = await helmResult(['template', 'jfo', CHART, ...set.flatMap((s) => ['--set', s])]);
    expect(r.code).not.toBe(0);
    return r.stderr;
  };

  it('are refused with a message naming the value', async () => {
    expect(await refused(['facade.replicas=two'])).toMatch(/facade.*replicas/);
    expect(await refused(['operator.logLevel=verbose'])).toMatch(/operator.*logLevel/);
    expect(await refused(['facade.maxWaitSeconds=61'])).toMatch(/facade.*maxWaitSeconds/);
    expect(await refused(['operator.watchNamespaces={Bad_NS}'])).toMatch(/watchNamespaces/);
    expect(await refused(['facade.hubApiUrl=hub:8081'])).toMatch(/facade.*hubApiUrl/);
    // A misspelt key is an error, not a silently ignored setting.
    expect(await refused(['facade.replica=3'])).toMatch(/replica/);
  });

  it('binds the operator in each watched namespace (JFO_NAMESPACE lists them)', async () => {
    const text = await helm([
      'template',
      'jfo',
      CHART,
      '-n',
      'hub',
      '--set-json',
      JSON.stringify({ operator: { watchNamespaces: ['hub', 'b'] } }),
    ]);
    const objs = byKey(text);
    // The release namespace (hub) carries no namespace field, as the facade's objects.
    expect([...objs.keys()].filter((k) => k.includes('/RoleBinding/')).sort()).toEqual([
      'rbac.authorization.k8s.io/v1/RoleBinding//jupyterhub-forward-facade',
      'rbac.authorization.k8s.io/v1/RoleBinding//jupyterhub-forward-operator',
      'rbac.authorization.k8s.io/v1/RoleBinding//jupyterhub-forward-operator-key-secrets',
      'rbac.authorization.k8s.io/v1/RoleBinding/b/jupyterhub-forward-operator',
      'rbac.authorization.k8s.io/v1/RoleBinding/b/jupyterhub-forward-operator-key-secrets',
      'rbac.authorization.k8s.io/v1/RoleBinding/jfo-system/jupyterhub-forward-operator-leader-election',
      'rbac.authorization.k8s.io/v1/RoleBinding/jfo-system/jupyterhub-forward-operator-leader-lease',
    ]);
    expect([...objs.keys()].some((k) => k.includes('/ClusterRoleBinding/'))).toBe(false);
    const op = objs.get('apps/v1/Deployment/jfo-system/jupyterhub-forward-operator') as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const env = op.spec.template.spec.containers[0].env as { name: string; value?: string }[];
    expect(env.find((e) => e.name === 'JFO_NAMESPACE')?.value).toBe('hub,b');
  });
});

describe('helm install with non-default values on the local API server', () => {
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  // Names of its own, so the cluster-wide objects of the manifests' install (other test files
  // share this control plane) are not touched.
  const opName = `jfo-helm-${suffix}`;
  const opNs = `jfo-helm-op-${suffix}`;
  let hub: { name: string; cleanup: () => Promise<void> };
  let release: string;

  beforeAll(async () => {
    hub = await createNamespace(kubeConfig(info), 'helm-hub');
    release = `jfo-${suffix}`;
    const values = {
      image: { repository: 'registry.example.org/jupyterhub-forward-operator', tag: '9.9.9' },
      operator: {
        name: opName,
        namespace: opNs,
        replicas: 1,
        watchNamespaces: [hub.name],
        workers: 8,
        resources: { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      },
      runner: { imagePullPolicy: 'Always', logLevel: 'debug' },
      facade: {
        name: 'forward-facade',
        replicas: 3,
        hubApiUrl: 'http://hub.elsewhere:8081/hub/api',
        tokensSecret: { name: 'my-facade-tokens', key: 'facade.yaml' },
        eventsMaxCount: 50,
        // Helm reads numbers as floats; the env value must still be the integer's digits.
        eventsMaxBytes: 1048576,
        service: { port: 80 },
      },
    };
    const file = join(helmHome, 'values.yaml');
    await writeFile(file, stringify(values));
    await helm(['install', release, CHART, '-n', hub.name, '-f', file]);
  });

  afterAll(async () => {
    await helmResult(['uninstall', release, '-n', hub.name]);
    await kubectlResult(info, ['delete', 'namespace', opNs, '--wait=false']);
    await hub.cleanup();
  });

  const get = async (args: string[]) =>
    JSON.parse(await kubectl(info, ['get', ...args, '-o', 'json'])) as {
      metadata: { labels?: Record<string, string> };
      spec: any; // eslint-disable-line @typescript-eslint/no-explicit-any
      roleRef?: { kind: string; name: string };
      subjects?: { kind: string; name: string; namespace?: string }[];
    };
  const envOf = (dep: Awaited<ReturnType<typeof get>>) =>
    Object.fromEntries(
      (dep.spec.template.spec.containers[0].env as { name: string; value?: string }[]).map((e) => [
        e.name,
        e.value,
      ]),
    );

  it('creates the operator in its own namespace with the values', async () => {
    const ns = await get(['namespace', opNs]);
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const dep = await get(['deployment', '-n', opNs, opName]);
    expect(dep.spec.replicas).toBe(1);
    const c = dep.spec.template.spec.containers[0];
    expect(c.image).toBe('registry.example.org/jupyterhub-forward-operator:9.9.9');
    expect(c.resources).toEqual({
      requests: { cpu: '200m', memory: '256Mi' },
      limits: { memory: '1Gi' },
    });
    expect(dep.spec.template.spec.serviceAccountName).toBe(opName);
    expect(envOf(dep)).toMatchObject({
      JFO_NAMESPACE: hub.name,
      JFO_RUNNER_IMAGE: 'registry.example.org/jupyterhub-forward-operator:9.9.9',
      JFO_RUNNER_IMAGE_PULL_POLICY: 'Always',
      JFO_RUNNER_LOG_LEVEL: 'debug',
      JFO_WORKERS: '8',
      JFO_LEADER_ELECTION_NAME: opName,
    });
  });

  it('binds the operator in the watched namespace only (no ClusterRoleBinding)', async () => {
    const crb = await kubectlResult(info, ['get', 'clusterrolebinding', opName]);
    expect(crb.stderr).toMatch(/NotFound/);
    const rb = await get(['rolebinding', '-n', hub.name, opName]);
    expect(rb.roleRef).toMatchObject({ kind: 'ClusterRole', name: opName });
    expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: opName, namespace: opNs }]);

    const can = async (args: string[], as: string) => {
      const r = await kubectlResult(info, ['auth', 'can-i', ...args, '--as', as]);
      return r.stdout.trim();
    };
    const sa = `system:serviceaccount:${opNs}:${opName}`;
    expect(await can(['create', 'deployments.apps', '-n', hub.name], sa)).toBe('yes');
    expect(
      await can(
        ['patch', 'jumpnodes.forward.hub.jupyter.org', '--subresource=status', '-n', hub.name],
        sa,
      ),
    ).toBe('yes');
    // Nothing outside the watched namespace but its own Lease.
    expect(await can(['create', 'deployments.apps', '-n', 'default'], sa)).toBe('no');
    expect(await can(['list', 'forwardedservers.forward.hub.jupyter.org', '-A'], sa)).toBe('no');
    expect(await can(['update', `leases.coordination.k8s.io/${opName}`, '-n', opNs], sa)).toBe(
      'yes',
    );
    expect(await can(['get', `leases.coordination.k8s.io/${opName}`, '-n', opNs], sa)).toBe('yes');
    expect(await can(['create', 'leases.coordination.k8s.io', '-n', opNs], sa)).toBe('yes');
    expect(await can(['update', 'leases.coordination.k8s.io/other', '-n', opNs], sa)).toBe('no');
    expect(await can(['create', 'deployments.apps', '-n', opNs], sa)).toBe('no');
    // Secrets: `get` (a key Secret's opt-in label) in the watched namespace only, never a list.
    expect(await can(['get', 'secrets', '-n', hub.name], sa)).toBe('yes');
    expect(await can(['list', 'secrets', '-n', hub.name], sa)).toBe('no');
    expect(await can(['get', 'secrets', '-n', 'default'], sa)).toBe('no');
    expect(await can(['get', 'secrets', '-n', 'kube-system'], sa)).toBe('no');
  });

  it('creates the facade in the release namespace with the values', async () => {
    const dep = await get(['deployment', '-n', hub.name, 'forward-facade']);
    expect(dep.spec.replicas).toBe(3);
    expect(envOf(dep)).toMatchObject({
      JFO_HUB_API_URL: 'http://hub.elsewhere:8081/hub/api',
      JFO_EVENTS_MAX_COUNT: '50',
      JFO_EVENTS_MAX_BYTES: '1048576',
      JFO_STATIC_TOKENS: '/etc/jupyterhub-forward-facade/tokens.yaml',
    });
    expect(dep.spec.template.spec.volumes).toEqual([
      {
        name: 'tokens',
        secret: {
          secretName: 'my-facade-tokens',
          items: [{ key: 'facade.yaml', path: 'tokens.yaml' }],
          defaultMode: 420,
        },
      },
    ]);
    const svc = await get(['service', '-n', hub.name, 'forward-facade']);
    expect(svc.spec.ports).toMatchObject([{ name: 'http', port: 80, targetPort: 'http' }]);
    const sa = `system:serviceaccount:${hub.name}:forward-facade`;
    const can = async (args: string[]) =>
      (await kubectlResult(info, ['auth', 'can-i', ...args, '--as', sa])).stdout.trim();
    expect(await can(['create', 'forwardedservers.forward.hub.jupyter.org', '-n', hub.name])).toBe(
      'yes',
    );
    expect(await can(['get', 'secrets', '-n', hub.name])).toBe('no');
  });

  it("runs: the install's operator leads and reconciles the watched namespace with the chart's RBAC", async () => {
    const admin = adminClients(info);
    // The operator's pod (of the chart's Deployment) as a local process with a token of the
    // chart's ServiceAccount: whatever the chart's RBAC lacks shows up as a Forbidden error.
    const op = await runPod({
      admin,
      api: { server: info.server, caFile: info.caFile },
      namespace: opNs,
      deployment: opName,
    });
    try {
      await kubectl(info, ['apply', '-n', hub.name, '-f', '-'], {
        input: stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'node-key', labels: { 'forward.hub.jupyter.org/runner-key': 'true' } },
          stringData: { 'ssh-privatekey': 'not used: no runner runs in this test' },
        }),
      });
      await kubectl(info, ['apply', '-n', hub.name, '-f', '-'], {
        input: stringify(jumpNode(hub.name, 'node', { privateKeySecretRef: { name: 'node-key' } })),
      });
      const runner = await eventually('the runner Deployment of the JumpNode', () =>
        admin.apps
          .readNamespacedDeployment({ name: runnerName('node'), namespace: hub.name })
          .catch(() => undefined),
      );
      // The runners get the chart's runner defaults.
      const c = runner.spec!.template.spec!.containers[0]!;
      expect(c.image).toBe('registry.example.org/jupyterhub-forward-operator:9.9.9');
      expect(c.imagePullPolicy).toBe('Always');
      expect(c.env?.find((e) => e.name === 'JFO_LOG_LEVEL')?.value).toBe('debug');
      // It leads through the Lease the chart's Role names, in the operator's namespace.
      const lease = await admin.coordination.readNamespacedLease({ name: opName, namespace: opNs });
      expect(lease.spec?.holderIdentity).toBe(op.pod);
      expect(op.exited()).toBe(false);
      expect(op.logs().filter((l) => /forbidden/i.test(JSON.stringify(l)))).toEqual([]);
    } finally {
      await op.stop();
    }
  });

  it('bounds the facade named by facade.name with its admission policy', async () => {
    const policy = await get(['validatingadmissionpolicy', `${opName}-facade-jumpnodes`]);
    expect(JSON.stringify(policy.spec.matchConditions)).toContain(":forward-facade')");
    const asFacade = (patch: object) =>
      kubectlResult(info, [
        'patch',
        '-n',
        hub.name,
        'jumpnode',
        'node',
        '--type=merge',
        '-p',
        JSON.stringify(patch),
        '--as',
        `system:serviceaccount:${hub.name}:forward-facade`,
      ]);
    // RBAC lets the facade patch JumpNodes; the policy (once the API server has loaded it)
    // leaves it the restart annotation only.
    const denied = await eventually('the facade policy to deny a spec change', async () => {
      const r = await asFacade({ spec: { port: 2222 } });
      return r.code !== 0 && r;
    });
    expect(denied.stderr).toMatch(
      /the facade may only change a JumpNode's forward.hub.jupyter.org\/restarted-at annotation/,
    );
    const restart = await asFacade({
      metadata: { annotations: { 'forward.hub.jupyter.org/restarted-at': 'now' } },
    });
    expect(restart.stderr).toBe('');
    expect(restart.code).toBe(0);
  });

  it('is removed by helm uninstall, cluster-wide objects included', async () => {
    await helm(['uninstall', release, '-n', hub.name]);
    expect((await kubectlResult(info, ['get', 'clusterrole', opName])).stderr).toMatch(/NotFound/);
    expect(
      (await kubectlResult(info, ['get', 'validatingadmissionpolicy', `${opName}-runner-status`]))
        .stderr,
    ).toMatch(/NotFound/);
    expect(
      (await kubectlResult(info, ['get', 'deployment', '-n', hub.name, 'forward-facade'])).stderr,
    ).toMatch(/NotFound/);
  });
});
