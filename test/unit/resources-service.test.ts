import { API_VERSION, type ForwardedServer } from '../../src/api/types.js';
import { runnerSelector } from '../../src/names.js';
import {
  buildDirectEndpointSlice,
  buildDirectService,
  unroutableReason,
  buildTunnelService,
  serverUrl,
} from '../../src/resources/service.js';

function server(
  spec: Partial<ForwardedServer['spec']> = {},
  name = 'jupyter-alice--lab',
): ForwardedServer {
  return {
    apiVersion: API_VERSION,
    kind: 'ForwardedServer',
    metadata: { name, namespace: 'hub', uid: 'uid-1', generation: 1 },
    spec: { user: { name: 'alice', id: 3 }, serverName: 'lab', startId: 's1', ...spec },
  };
}

describe('buildTunnelService', () => {
  const fs = server({
    jumpNodeRef: { name: 'hpc' },
    target: { host: 'node1', port: 43127 },
    service: {
      port: 9999,
      labels: { app: 'jupyterhub', component: 'custom', 'app.kubernetes.io/managed-by': 'me' },
    },
  });
  const svc = buildTunnelService(fs, 20123);

  it('selects the runner pods of the JumpNode and maps the service port to the runner port', () => {
    expect(svc.spec?.selector).toEqual(runnerSelector('hpc'));
    expect(svc.spec?.ports).toEqual([
      { name: 'http', protocol: 'TCP', port: 9999, targetPort: 20123 },
    ]);
    expect(svc.spec?.type).toBe('ClusterIP');
  });

  it('is named after the ForwardedServer and controlled by it', () => {
    expect(svc.metadata?.name).toBe('jupyter-alice--lab');
    expect(svc.metadata?.namespace).toBe('hub');
    expect(svc.metadata?.ownerReferences).toEqual([
      {
        apiVersion: API_VERSION,
        kind: 'ForwardedServer',
        name: 'jupyter-alice--lab',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
  });

  it('carries the z2jh labels, lets extra labels override them, but not the ones we select by', () => {
    const l = svc.metadata?.labels ?? {};
    expect(l['hub.jupyter.org/username']).toBe('alice');
    expect(l['hub.jupyter.org/servername']).toBe('lab');
    expect(l.app).toBe('jupyterhub');
    expect(l.component).toBe('custom');
    expect(l['app.kubernetes.io/managed-by']).toBe('jupyterhub-forward-operator');
    expect(l['forward.hub.jupyter.org/forwardedserver']).toBe('jupyter-alice--lab');
  });

  it('defaults the service port to 8888', () => {
    const s = buildTunnelService(server({ jumpNodeRef: { name: 'hpc' } }), 20000);
    expect(s.spec?.ports?.[0]?.port).toBe(8888);
  });

  it('is deterministic', () => {
    expect(buildTunnelService(fs, 20123)).toEqual(svc);
  });
});

describe('direct servers', () => {
  it('get an ExternalName Service for a DNS target (which cannot remap ports)', () => {
    const s = buildDirectService(server({ target: { host: 'nb.example.org.', port: 8000 } }));
    expect(s?.spec).toEqual({
      type: 'ExternalName',
      externalName: 'nb.example.org',
      ports: [{ name: 'http', protocol: 'TCP', port: 8000 }],
    });
    expect(
      buildDirectEndpointSlice(server({ target: { host: 'nb.example.org', port: 8000 } })),
    ).toBeUndefined();
  });

  it.each([
    ['10.1.2.3', 'IPv4'],
    ['fd00::5', 'IPv6'],
  ])('get a selector-less Service and an EndpointSlice for IP %s', (ip, family) => {
    const fs = server({ target: { host: ip, port: 8000 }, service: { port: 8888 } });
    const s = buildDirectService(fs);
    expect(s?.spec?.selector).toBeUndefined();
    expect(s?.spec?.ports).toEqual([
      { name: 'http', protocol: 'TCP', port: 8888, targetPort: 8000 },
    ]);
    const slice = buildDirectEndpointSlice(fs)!;
    expect(slice.addressType).toBe(family);
    expect(slice.endpoints).toEqual([{ addresses: [ip], conditions: { ready: true } }]);
    expect(slice.ports).toEqual([{ name: 'http', protocol: 'TCP', port: 8000 }]);
    expect(slice.metadata?.labels?.['kubernetes.io/service-name']).toBe('jupyter-alice--lab');
    expect(slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by']).not.toBe(
      'endpointslice-controller.k8s.io',
    );
  });

  it.each([
    '127.0.0.1',
    '127.9.9.9',
    '0.0.0.0',
    '169.254.1.2',
    '224.0.0.5',
    '::1',
    '::',
    'fe80::1',
    'ff02::1',
  ])('get no Service and no EndpointSlice for the unroutable target %s', (ip) => {
    const fs = server({ target: { host: ip, port: 8000 } });
    expect(unroutableReason(ip)).toMatch(/address$/);
    expect(buildDirectService(fs)).toBeUndefined();
    expect(buildDirectEndpointSlice(fs)).toBeUndefined();
  });

  it.each([
    '10.0.0.1',
    '128.0.0.1',
    '169.255.0.1',
    '224.0.1.1',
    'fd00::1',
    '2001:db8::1',
    'node1.example.org',
  ])('treat %s as routable', (host) => expect(unroutableReason(host)).toBeUndefined());

  it('get no Service while the target is unknown', () => {
    expect(buildDirectService(server())).toBeUndefined();
    expect(buildDirectEndpointSlice(server())).toBeUndefined();
  });
});

describe('serverUrl', () => {
  it.each<
    [
      string,
      Partial<ForwardedServer['spec']>,
      { runnerPort?: number; localUrlHost?: string },
      string | undefined,
    ]
  >([
    [
      'tunnel: the Service FQDN',
      { jumpNodeRef: { name: 'hpc' } },
      { runnerPort: 20001 },
      'http://jupyter-alice--lab.hub.svc:8888',
    ],
    [
      'tunnel, delayed: the URL exists before the target',
      { jumpNodeRef: { name: 'hpc' }, service: { port: 80 } },
      { runnerPort: 20001 },
      'http://jupyter-alice--lab.hub.svc:80',
    ],
    [
      'tunnel, local development host',
      { jumpNodeRef: { name: 'hpc' } },
      { runnerPort: 20001, localUrlHost: '127.0.0.1' },
      'http://127.0.0.1:20001',
    ],
    [
      'direct: the target itself',
      { target: { host: 'nb.example.org', port: 8000 } },
      {},
      'http://nb.example.org:8000',
    ],
    ['direct IPv6', { target: { host: 'fd00::5', port: 8000 } }, {}, 'http://[fd00::5]:8000'],
    ['direct without target', {}, {}, undefined],
  ])('%s', (_name, spec, opts, want) => {
    expect(serverUrl(server(spec), opts)).toBe(want);
  });
});
