// The Service (and, for a direct IP target, the EndpointSlice) of a ForwardedServer. Pure.
//
// Tunnelled: selector = the runner pods of the JumpNode, port spec.service.port -> targetPort
// status.runnerPort. Direct with a DNS target: an ExternalName Service (a CNAME, so it cannot
// remap ports: its port is the target's). Direct with an IP target: a selector-less Service whose
// port maps to the target port through an EndpointSlice the operator owns.
import { isIP } from 'node:net';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { API_VERSION, DEFAULTS, FORWARDED_SERVER, type ForwardedServer } from '../api/types.js';
import { APP_NAME, LABELS, runnerSelector, serverLabels } from '../names.js';
import { controllerRef } from './meta.js';

export const SERVICE_PORT_NAME = 'http';
/** Not the EndpointSlice controller's value, so it leaves the slice alone. */
export const ENDPOINTSLICE_MANAGER = APP_NAME;

/**
 * Why the cluster cannot route to an IP target, or undefined when it can. Kubernetes refuses
 * such addresses in an EndpointSlice (unspecified, loopback, link-local), and a Service in front
 * of them would lead nowhere: only a hub on the same host as the target can use them.
 */
export function unroutableReason(host: string): string | undefined {
  const family = isIP(host);
  if (family === 4) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    if (a === 0) return 'an unspecified address';
    if (a === 127) return 'a loopback address';
    if (a === 169 && b === 254) return 'a link-local address';
    if (a === 224 && b === 0 && host.split('.')[2] === '0') return 'a link-local multicast address';
  } else if (family === 6) {
    const h = host.toLowerCase();
    if (h === '::') return 'an unspecified address';
    if (h === '::1') return 'a loopback address';
    if (/^fe[89ab]/.test(h)) return 'a link-local address';
    if (/^ff02:/.test(h)) return 'a link-local multicast address';
  }
  return undefined;
}

export function servicePort(fs: ForwardedServer): number {
  return fs.spec.service?.port ?? DEFAULTS.servicePort;
}

/** The reference's labels: ours, then the user's extra labels, then the ones we select by. */
export function serviceLabels(fs: ForwardedServer): Record<string, string> {
  const name = fs.metadata.name;
  const own = serverLabels(fs.spec.user.name, fs.spec.serverName ?? '', name);
  return {
    ...own,
    ...(fs.spec.service?.labels ?? {}),
    [LABELS.managedBy]: APP_NAME,
    [LABELS.forwardedServer]: name,
  };
}

function meta(fs: ForwardedServer) {
  return {
    name: fs.metadata.name,
    namespace: fs.metadata.namespace,
    labels: serviceLabels(fs),
    ownerReferences: [
      controllerRef({
        apiVersion: API_VERSION,
        kind: FORWARDED_SERVER.kind,
        metadata: fs.metadata,
      }),
    ],
  };
}

export function buildTunnelService(fs: ForwardedServer, runnerPort: number): V1Service {
  const jumpNode = fs.spec.jumpNodeRef?.name;
  if (!jumpNode) throw new Error('buildTunnelService needs spec.jumpNodeRef');
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(fs),
    spec: {
      type: 'ClusterIP',
      selector: runnerSelector(jumpNode),
      ports: [
        { name: SERVICE_PORT_NAME, protocol: 'TCP', port: servicePort(fs), targetPort: runnerPort },
      ],
    },
  };
}

/** The Service of a direct server; undefined while the target is unknown or unroutable. */
export function buildDirectService(fs: ForwardedServer): V1Service | undefined {
  const target = fs.spec.target;
  if (!target || unroutableReason(target.host)) return undefined;
  if (isIP(target.host) === 0) {
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(fs),
      spec: {
        type: 'ExternalName',
        externalName: target.host.replace(/\.$/, ''),
        ports: [{ name: SERVICE_PORT_NAME, protocol: 'TCP', port: target.port }],
      },
    };
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(fs),
    spec: {
      type: 'ClusterIP',
      ports: [
        {
          name: SERVICE_PORT_NAME,
          protocol: 'TCP',
          port: servicePort(fs),
          targetPort: target.port,
        },
      ],
    },
  };
}

/** The EndpointSlice of a direct server with an IP target; undefined otherwise. */
export function buildDirectEndpointSlice(fs: ForwardedServer): V1EndpointSlice | undefined {
  const target = fs.spec.target;
  const family = target ? isIP(target.host) : 0;
  if (!target || family === 0 || unroutableReason(target.host)) return undefined;
  const m = meta(fs);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      ...m,
      labels: {
        ...m.labels,
        'kubernetes.io/service-name': fs.metadata.name,
        'endpointslice.kubernetes.io/managed-by': ENDPOINTSLICE_MANAGER,
      },
    },
    addressType: family === 4 ? 'IPv4' : 'IPv6',
    endpoints: [{ addresses: [target.host], conditions: { ready: true } }],
    ports: [{ name: SERVICE_PORT_NAME, protocol: 'TCP', port: target.port }],
  };
}

/** The URL the hub uses (status.url). */
export function serverUrl(
  fs: ForwardedServer,
  opts: { runnerPort?: number; localUrlHost?: string },
): string | undefined {
  const ns = fs.metadata.namespace;
  if (!fs.spec.jumpNodeRef) {
    const t = fs.spec.target;
    if (!t) return undefined;
    const host = isIP(t.host) === 6 ? `[${t.host}]` : t.host;
    return `http://${host}:${t.port}`;
  }
  if (opts.localUrlHost && opts.runnerPort) return `http://${opts.localUrlHost}:${opts.runnerPort}`;
  return `http://${fs.metadata.name}.${ns}.svc:${servicePort(fs)}`;
}
