// The CRDs against the real API server: they install, teach (explain, printer columns), accept
// the samples and a fixture that uses every field, and reject bad objects with a message that
// names the field.
import { stringify } from 'yaml';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { kubectl, kubectlResult } from '../harness/kubectl.js';
import { fullForwardedServer, fullJumpNode, HOST_KEY } from '../fixtures/full-objects.js';

const info = clusterInfo();
const kc = kubeConfig(info);
let ns: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ name: ns, cleanup } = await createNamespace(kc, 'crds'));
});
afterAll(async () => cleanup());

type Obj = Record<string, unknown>;

function fs(spec: Obj, name = 'jupyter-x'): Obj {
  return {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'ForwardedServer',
    metadata: { name },
    spec: { user: { name: 'x', id: 1 }, startId: 'abc123', ...spec },
  };
}

function jn(spec: Obj, name = 'jump'): Obj {
  return {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'JumpNode',
    metadata: { name },
    spec: {
      host: 'login.example.org',
      username: 'tunnel',
      privateKeySecretRef: { name: 'key' },
      hostKeys: [HOST_KEY],
      ...spec,
    },
  };
}

async function create(obj: Obj) {
  return kubectlResult(info, ['create', '-n', ns, '-f', '-'], { input: stringify(obj) });
}

describe('installing', () => {
  it('re-applies the CRDs without error (idempotent) and applies the samples', async () => {
    await kubectl(info, ['apply', '--server-side', '-k', 'crds/']);
    const out = await kubectl(info, ['apply', '-n', ns, '-f', 'manifests/samples/']);
    expect(out).toContain('jumpnode.forward.hub.jupyter.org/hpc-login created');
    expect(out).toContain('forwardedserver.forward.hub.jupyter.org/jupyter-alice--gpu-lab created');
    expect(out).toContain('forwardedserver.forward.hub.jupyter.org/jupyter-bob created');
    expect(out).toContain('forwardedserver.forward.hub.jupyter.org/jupyter-carol--direct created');
  });

  it('accepts objects that use every field, status included', async () => {
    const f = fullForwardedServer();
    const j = fullJumpNode();
    j.metadata.name = 'full-node';
    const { status: fStatus, ...fObj } = f;
    const { status: jStatus, ...jObj } = j;
    await kubectl(info, ['create', '-n', ns, '-f', '-'], { input: stringify(fObj) });
    await kubectl(info, ['create', '-n', ns, '-f', '-'], { input: stringify(jObj) });
    await kubectl(info, [
      'patch',
      '-n',
      ns,
      'fsrv',
      f.metadata.name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: fStatus }),
    ]);
    await kubectl(info, [
      'patch',
      '-n',
      ns,
      'jn',
      'full-node',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: jStatus }),
    ]);
    const back = JSON.parse(
      await kubectl(info, ['get', '-n', ns, 'fsrv', f.metadata.name, '-o', 'json']),
    );
    expect(back.spec).toEqual(f.spec);
    expect(back.status).toEqual(fStatus);
    const jBack = JSON.parse(
      await kubectl(info, ['get', '-n', ns, 'jn', 'full-node', '-o', 'json']),
    );
    expect(jBack.spec).toEqual(j.spec);
    expect(jBack.status).toEqual(jStatus);
  });

  it('applies defaults from the schema', async () => {
    const f = JSON.parse(
      await kubectl(info, ['get', '-n', ns, 'fsrv', 'jupyter-bob', '-o', 'json']),
    );
    expect(f.spec.cancelRequested).toBe(false);
    const j = JSON.parse(await kubectl(info, ['get', '-n', ns, 'jn', 'hpc-login', '-o', 'json']));
    expect(j.spec.keepalive).toEqual({ intervalSeconds: 10, countMax: 3 });
    expect(j.spec.privateKeySecretRef.key).toBe('ssh-privatekey');
    expect(j.spec.insecureSkipHostKeyCheck).toBe(false);
  });
});

describe('kubectl teaches', () => {
  it('get forwardedservers shows the printer columns', async () => {
    const out = await kubectl(info, ['get', 'forwardedservers', '-n', ns]);
    const header = out.split('\n')[0]!.split(/\s+/);
    expect(header).toEqual([
      'NAME',
      'USER',
      'SERVER',
      'PHASE',
      'JUMPNODE',
      'TARGET',
      'RUNNER-PORT',
      'AGE',
    ]);
    expect(out).toMatch(
      /jupyter-alice--gpu-lab\s+alice\s+gpu-lab\s+hpc-login\s+node042\.hpc\.example\.org/,
    );
  });

  it('get jumpnodes (short name) shows the printer columns', async () => {
    const out = await kubectl(info, ['get', 'jn', '-n', ns]);
    expect(out.split('\n')[0]!.split(/\s+/)).toEqual([
      'NAME',
      'HOST',
      'USER',
      'READY',
      'CONNECTED',
      'FORWARDS',
      'AGE',
    ]);
  });

  it('explain forwardedserver.spec shows the field descriptions', async () => {
    const out = await kubectl(info, ['explain', 'forwardedserver.spec']);
    expect(out).toContain('What the hub wants reached');
    expect(out).toMatch(/startId\s+<string> -required-/);
    expect(out).toContain('Identity of one start attempt');
    expect(out).toContain('jumpNodeRef');
  });

  it('explain jumpnode.spec.hostKeys explains the key format', async () => {
    const out = await kubectl(info, ['explain', 'jumpnode.spec.hostKeys']);
    expect(out).toContain('OpenSSH format');
  });
});

// Each bad object and a piece of the API server's message that names the field.
const invalid: Array<[string, Obj, RegExp]> = [
  ['port 0', fs({ target: { host: 'h', port: 0 } }), /spec\.target\.port: Invalid value: 0/],
  [
    'port above 65535',
    fs({ target: { host: 'h', port: 70000 } }),
    /spec\.target\.port: Invalid value: 70000/,
  ],
  ['missing user', { ...fs({}), spec: { startId: 'a' } }, /spec\.user: Required value/],
  [
    'missing startId',
    { ...fs({}), spec: { user: { name: 'x', id: 1 } } },
    /spec\.startId: Required value/,
  ],
  ['empty user name', fs({ user: { name: '', id: 1 } }), /spec\.user\.name: Invalid value/],
  ['negative user id', fs({ user: { name: 'x', id: -1 } }), /spec\.user\.id: Invalid value: -1/],
  [
    'target host with scheme and port',
    fs({ target: { host: 'http://n1:8888', port: 1 } }),
    /spec\.target\.host: Invalid value: "[^"]*": must be a DNS name or an IP address/,
  ],
  [
    'unknown field (ssh options are not a thing here)',
    fs({ sshForwardOptions: { ProxyCommand: 'id' } }),
    /unknown field "spec\.sshForwardOptions"/,
  ],
  [
    'over-long ForwardedServer name',
    fs({}, 'j'.repeat(64)),
    /metadata\.name must be at most 63 characters/,
  ],
  [
    'remoteForward without jumpNodeRef',
    fs({ remoteForward: { bindPort: 1, target: { host: 'hub', port: 8081 } } }),
    /spec\.remoteForward: Invalid value: remoteForward needs jumpNodeRef/,
  ],
  [
    'server name with a slash',
    fs({ serverName: 'a/b' }),
    /spec\.serverName: Invalid value: "a\/b"/,
  ],
  ['start id with spaces', fs({ startId: 'a b' }), /spec\.startId: Invalid value: "a b"/],
  [
    'jumpNodeRef name not a DNS label',
    fs({ jumpNodeRef: { name: 'Bad_Name' } }),
    /spec\.jumpNodeRef\.name: Invalid value: "Bad_Name"/,
  ],
  [
    'bad service label key',
    fs({ service: { labels: { 'bad key!': 'v' } } }),
    /spec\.service\.labels: Invalid value: label keys must be valid/,
  ],
  [
    'over-long user name',
    fs({ user: { name: 'u'.repeat(256), id: 1 } }),
    /spec\.user\.name: Too long/,
  ],
  [
    'JumpNode without host keys',
    jn({ hostKeys: [] }),
    /spec\.hostKeys: Invalid value: hostKeys must list at least one host key/,
  ],
  [
    'JumpNode host key in the wrong format',
    jn({ hostKeys: ['ssh-dss AAAAB3NzaC1kc3MAAACBAP'] }),
    /spec\.hostKeys\[0\]: Invalid value: "ssh-dss AAAAB3NzaC1kc3MAAACBAP"/,
  ],
  [
    'JumpNode host key without the key',
    jn({ hostKeys: ['ssh-ed25519'] }),
    /spec\.hostKeys\[0\]: Invalid value/,
  ],
  ['JumpNode port 0', jn({ port: 0 }), /spec\.port: Invalid value: 0/],
  ['JumpNode without username', jn({ username: undefined }), /spec\.username: Required value/],
  [
    'JumpNode user@host as host',
    jn({ host: 'root@login' }),
    /spec\.host: Invalid value: "[^"]*": must be a DNS name or an IP address/,
  ],
  [
    'JumpNode port range reversed',
    jn({ runner: { portRange: { start: 30000, end: 20000 } } }),
    /spec\.runner\.portRange: Invalid value: portRange\.start must not be greater than portRange\.end/,
  ],
  [
    'JumpNode keepalive interval 0',
    jn({ keepalive: { intervalSeconds: 0 } }),
    /spec\.keepalive\.intervalSeconds: Invalid value: 0/,
  ],
  [
    'JumpNode too many replicas',
    jn({ runner: { replicas: 11 } }),
    /spec\.runner\.replicas: Invalid value: 11/,
  ],
  [
    'JumpNode alias with a space',
    jn({ aliases: ['my node'] }),
    /spec\.aliases\[0\]: Invalid value: "my node"/,
  ],
  [
    'JumpNode over-long name',
    jn({}, 'j'.repeat(41)),
    /metadata\.name must be at most 40 characters/,
  ],
  [
    'JumpNode bad memory quantity',
    jn({ runner: { resources: { limits: { memory: 'lots' } } } }),
    /spec\.runner\.resources\.limits\.memory: Invalid value: "lots"/,
  ],
];

describe('invalid objects are rejected with a message that names the field', () => {
  it.each(invalid)('%s', async (_name, obj, message) => {
    const r = await create(obj);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});

describe('transition rules', () => {
  it('refuses to change the user of a ForwardedServer', async () => {
    const obj = fs({}, 'jupyter-immutable');
    await kubectl(info, ['create', '-n', ns, '-f', '-'], { input: stringify(obj) });
    const r = await kubectlResult(info, [
      'patch',
      '-n',
      ns,
      'fsrv',
      'jupyter-immutable',
      '--type=merge',
      '-p',
      '{"spec":{"user":{"name":"mallory"}}}',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.user: Invalid value: user is immutable/);
  });

  it('keeps cancelRequested set within one start attempt, and resets it with a new startId', async () => {
    const obj = fs({ cancelRequested: true }, 'jupyter-cancel');
    await kubectl(info, ['create', '-n', ns, '-f', '-'], { input: stringify(obj) });
    const unset = await kubectlResult(info, [
      'patch',
      '-n',
      ns,
      'fsrv',
      'jupyter-cancel',
      '--type=merge',
      '-p',
      '{"spec":{"cancelRequested":false}}',
    ]);
    expect(unset.code).not.toBe(0);
    expect(unset.stderr).toMatch(
      /spec\.cancelRequested: Invalid value: cancelRequested cannot be unset/,
    );
    await kubectl(info, [
      'patch',
      '-n',
      ns,
      'fsrv',
      'jupyter-cancel',
      '--type=merge',
      '-p',
      '{"spec":{"cancelRequested":false,"startId":"new1"}}',
    ]);
  });
});

describe('status subresource', () => {
  it('a status update does not bump metadata.generation; a spec change does', async () => {
    const obj = fs({}, 'jupyter-gen');
    await kubectl(info, ['create', '-n', ns, '-f', '-'], { input: stringify(obj) });
    const gen = async () =>
      JSON.parse(await kubectl(info, ['get', '-n', ns, 'fsrv', 'jupyter-gen', '-o', 'json']))
        .metadata.generation as number;
    expect(await gen()).toBe(1);
    await kubectl(info, [
      'patch',
      '-n',
      ns,
      'fsrv',
      'jupyter-gen',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Pending","runnerPort":20000}}',
    ]);
    expect(await gen()).toBe(1);
    await kubectl(info, [
      'patch',
      '-n',
      ns,
      'fsrv',
      'jupyter-gen',
      '--type=merge',
      '-p',
      '{"spec":{"target":{"host":"n1","port":8888}}}',
    ]);
    expect(await gen()).toBe(2);
  });

  it('a write to the main resource cannot change status', async () => {
    await kubectl(info, [
      'patch',
      '-n',
      ns,
      'fsrv',
      'jupyter-gen',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Failed"}}',
    ]);
    const f = JSON.parse(
      await kubectl(info, ['get', '-n', ns, 'fsrv', 'jupyter-gen', '-o', 'json']),
    );
    expect(f.status.phase).toBe('Pending');
  });

  it('rejects an invalid status value', async () => {
    const r = await kubectlResult(info, [
      'patch',
      '-n',
      ns,
      'fsrv',
      'jupyter-gen',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"phase":"Happy"}}',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/status\.phase: Unsupported value: "Happy"/);
  });
});

describe('the control plane is complete enough for the operator', () => {
  it('RBAC is enforced for token users (the viewer may not create ForwardedServers)', async () => {
    const r = await kubectlResult(info, ['create', '-n', ns, '-f', '-'], {
      input: stringify(fs({}, 'jupyter-viewer')),
      context: 'viewer',
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/forbidden/i);
  });

  it('the controller manager turns a Deployment into a ReplicaSet and garbage-collects it', async () => {
    const dep = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'probe' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'probe' } },
        template: {
          metadata: { labels: { app: 'probe' } },
          spec: { containers: [{ name: 'c', image: 'busybox' }] },
        },
      },
    };
    await kubectl(info, ['create', '-n', ns, '-f', '-'], { input: stringify(dep) });
    await waitFor(
      async () =>
        (await kubectl(info, ['get', 'rs', '-n', ns, '-l', 'app=probe', '-o', 'name'])).trim() !==
        '',
    );
    await kubectl(info, ['delete', 'deployment', 'probe', '-n', ns, '--wait=false']);
    await waitFor(
      async () =>
        (await kubectl(info, ['get', 'rs', '-n', ns, '-l', 'app=probe', '-o', 'name'])).trim() ===
        '',
    );
  });
});

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 250));
  }
}
