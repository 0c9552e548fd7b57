import { API_VERSION, GROUP, type JumpNode } from '../../src/api/types.js';
import { runnerSelector } from '../../src/names.js';
import {
  buildRunnerDeployment,
  buildRunnerRole,
  buildRunnerRoleBinding,
  buildRunnerServiceAccount,
  keySecretProblem,
  RUNNER_CONFIG_HASH_ANNOTATION,
  RUNNER_KEY_FILE,
  runnerPolicyProblem,
} from '../../src/resources/runner.js';

function node(spec: Partial<JumpNode['spec']> = {}): JumpNode {
  return {
    apiVersion: API_VERSION,
    kind: 'JumpNode',
    metadata: { name: 'hpc', namespace: 'hub', uid: 'jn-uid', generation: 2 },
    spec: {
      host: 'login.example.org',
      username: 'tunnel',
      privateKeySecretRef: { name: 'hpc-key' },
      hostKeys: ['ssh-ed25519 AAAA'],
      ...spec,
    },
  };
}
const settings = { image: 'img:1', logLevel: 'info' };

describe('buildRunnerDeployment', () => {
  const d = buildRunnerDeployment(node(), settings);
  const pod = d.spec!.template.spec!;
  const c = pod.containers[0]!;

  it('runs the runner sub-command of the image for this JumpNode', () => {
    expect(d.metadata?.name).toBe('hpc-tunnel-runner');
    expect(c.image).toBe('img:1');
    expect(c.args).toEqual(['runner']);
    expect(c.command).toBeUndefined();
    expect(c.env).toEqual([
      { name: 'JFO_NAMESPACE', value: 'hub' },
      { name: 'JFO_JUMPNODE', value: 'hpc' },
      { name: 'JFO_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'JFO_HTTP_PORT', value: '8080' },
      { name: 'JFO_LOG_LEVEL', value: 'info' },
      { name: 'JFO_SSH_CONNECTIONS', value: '1' },
      { name: 'JFO_PRIVATE_KEY_FILE', value: RUNNER_KEY_FILE },
      { name: 'MALLOC_ARENA_MAX', value: '2' },
    ]);
    expect(pod.serviceAccountName).toBe('hpc-tunnel-runner');
  });

  it('mounts only the named key of the key Secret, readable by the runner group', () => {
    expect(c.volumeMounts).toEqual([
      { name: 'ssh-key', mountPath: '/etc/jupyterhub-forward-runner/ssh-key', readOnly: true },
    ]);
    expect(RUNNER_KEY_FILE).toBe('/etc/jupyterhub-forward-runner/ssh-key/ssh-privatekey');
    expect(pod.volumes).toEqual([
      {
        name: 'ssh-key',
        secret: {
          secretName: 'hpc-key',
          items: [{ key: 'ssh-privatekey', path: 'ssh-privatekey' }],
          defaultMode: 0o440,
          optional: true,
        },
      },
    ]);
    expect(pod.securityContext?.fsGroup).toBe(65532);
    const custom = buildRunnerDeployment(
      node({ privateKeySecretRef: { name: 'k2', key: 'id_ed25519' } }),
      settings,
    ).spec!.template.spec!;
    expect(custom.volumes?.[0]?.secret?.items).toEqual([
      { key: 'id_ed25519', path: 'ssh-privatekey' },
    ]);
    expect(custom.volumes?.[0]?.secret?.secretName).toBe('k2');
  });

  it('selects its pods with the immutable runner selector', () => {
    expect(d.spec?.selector.matchLabels).toEqual(runnerSelector('hpc'));
    expect(d.spec?.template.metadata?.labels).toMatchObject(runnerSelector('hpc'));
  });

  it('runs restricted: non-root, read-only root, no privilege escalation, no capabilities', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.enableServiceLinks).toBe(false);
  });

  it('probes /healthz and /readyz on 8080', () => {
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
  });

  it('takes replicas, image, resources, nodeSelector and tolerations from spec.runner', () => {
    const runner = {
      replicas: 2,
      image: 'other:2',
      resources: { requests: { cpu: '50m' }, limits: { memory: '256Mi' } },
      nodeSelector: { pool: 'edge' },
      tolerations: [{ key: 'edge', operator: 'Exists' as const, effect: 'NoSchedule' as const }],
    };
    const d2 = buildRunnerDeployment(node({ runner }), settings);
    const p2 = d2.spec!.template.spec!;
    expect(d2.spec?.replicas).toBe(2);
    expect(p2.containers[0]!.image).toBe('other:2');
    expect(p2.containers[0]!.resources).toEqual(runner.resources);
    expect(p2.nodeSelector).toEqual({ pool: 'edge' });
    expect(p2.tolerations).toEqual(runner.tolerations);
    expect(d.spec?.replicas).toBe(1);
  });

  it('is deterministic and rolls the pods only when the key Secret reference changes', () => {
    expect(buildRunnerDeployment(node(), settings)).toEqual(d);
    const hash = (jn: JumpNode) =>
      buildRunnerDeployment(jn, settings).spec!.template.metadata!.annotations![
        RUNNER_CONFIG_HASH_ANNOTATION
      ];
    expect(hash(node({ host: 'elsewhere' }))).toBe(hash(node()));
    expect(hash(node({ privateKeySecretRef: { name: 'other' } }))).not.toBe(hash(node()));
    expect(hash(node({ privateKeySecretRef: { name: 'hpc-key', key: 'id' } }))).not.toBe(
      hash(node()),
    );
    expect(JSON.stringify(d)).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
  });

  it('passes spec.runner.connections to the runner (a change rolls the pods)', () => {
    const env = (jn: JumpNode) =>
      buildRunnerDeployment(jn, settings).spec!.template.spec!.containers[0]!.env!;
    expect(env(node({ runner: { connections: 3 } }))).toContainEqual({
      name: 'JFO_SSH_CONNECTIONS',
      value: '3',
    });
  });

  it('is controlled by the JumpNode', () => {
    for (const o of [
      d,
      buildRunnerServiceAccount(node()),
      buildRunnerRole(node()),
      buildRunnerRoleBinding(node()),
    ])
      expect(o.metadata?.ownerReferences).toEqual([
        {
          apiVersion: API_VERSION,
          kind: 'JumpNode',
          name: 'hpc',
          uid: 'jn-uid',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
  });
});

describe('runner RBAC', () => {
  it('grants least privilege, restricted by name to its JumpNode, and nothing on Secrets', () => {
    expect(buildRunnerRole(node()).rules).toEqual([
      { apiGroups: [GROUP], resources: ['forwardedservers'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [GROUP], resources: ['forwardedservers/status'], verbs: ['get', 'patch'] },
      {
        apiGroups: [GROUP],
        resources: ['jumpnodes'],
        resourceNames: ['hpc'],
        verbs: ['get', 'list', 'watch'],
      },
      {
        apiGroups: [GROUP],
        resources: ['jumpnodes/status'],
        resourceNames: ['hpc'],
        verbs: ['get', 'patch'],
      },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
  });

  it('binds the Role to the runner ServiceAccount', () => {
    const rb = buildRunnerRoleBinding(node());
    expect(rb.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: 'hpc-tunnel-runner',
    });
    expect(rb.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'hpc-tunnel-runner', namespace: 'hub' },
    ]);
  });
});

describe('runner policy', () => {
  const own = { image: 'img:1', logLevel: 'info' };

  it("runs the operator's own image, and other images only when allowed", () => {
    expect(runnerPolicyProblem(node(), own)).toBeUndefined();
    expect(runnerPolicyProblem(node({ runner: { image: 'img:1' } }), own)).toBeUndefined();
    const evil = node({ runner: { image: 'evil.example.com/miner:latest' } });
    expect(runnerPolicyProblem(evil, own)).toMatchObject({ reason: 'ImageNotAllowed' });
    const allowed = { ...own, allowedImages: ['registry.example.org/jfo/*', 'img:2'] };
    expect(runnerPolicyProblem(node({ runner: { image: 'img:2' } }), allowed)).toBeUndefined();
    expect(
      runnerPolicyProblem(node({ runner: { image: 'registry.example.org/jfo/r:1' } }), allowed),
    ).toBeUndefined();
    expect(runnerPolicyProblem(evil, allowed)?.reason).toBe('ImageNotAllowed');
    expect(
      runnerPolicyProblem(node({ runner: { image: 'registry.example.org/other:1' } }), allowed)
        ?.reason,
    ).toBe('ImageNotAllowed');
  });

  it('tolerates only the taint keys the operator allows; a keyless toleration only with *', () => {
    const master = node({
      runner: {
        tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }],
      },
    });
    const all = node({ runner: { tolerations: [{ operator: 'Exists' }] } });
    const gw = node({ runner: { tolerations: [{ key: 'hpc-gateway', operator: 'Exists' }] } });
    expect(runnerPolicyProblem(master, own)?.reason).toBe('TolerationNotAllowed');
    expect(runnerPolicyProblem(gw, own)?.reason).toBe('TolerationNotAllowed');
    const some = { ...own, allowedTolerationKeys: ['hpc-gateway'] };
    expect(runnerPolicyProblem(gw, some)).toBeUndefined();
    expect(runnerPolicyProblem(master, some)?.reason).toBe('TolerationNotAllowed');
    expect(runnerPolicyProblem(all, some)?.reason).toBe('TolerationNotAllowed');
    expect(runnerPolicyProblem(all, { ...own, allowedTolerationKeys: ['*'] })).toBeUndefined();
  });

  it('accepts only a key Secret with the opt-in label', () => {
    const n = node();
    const label = 'forward.hub.jupyter.org/runner-key';
    expect(keySecretProblem(n, { found: true, labels: { [label]: 'true' } })).toBeUndefined();
    expect(keySecretProblem(n, { found: true, labels: {} })?.reason).toBe('KeySecretNotAllowed');
    expect(keySecretProblem(n, { found: true, labels: { [label]: 'yes' } })?.reason).toBe(
      'KeySecretNotAllowed',
    );
    expect(keySecretProblem(n, { found: false })?.reason).toBe('KeySecretNotFound');
    expect(keySecretProblem(n, { forbidden: true })?.message).toMatch(
      /bind the ClusterRole jupyterhub-forward-operator-key-secrets/,
    );
  });
});
