// Runner port allocation, the pure half: the probe order of a ForwardedServer over its JumpNode's
// port range, the choice of a free port, and the claim object (a Lease) that reserves a port.
//
// Every ForwardedServer probes the range in its own fixed order, starting at a hash of its
// namespace/name. Two operators (or two workers) allocating for the same server therefore try the
// same ports in the same order and meet on the same claim instead of taking two ports, and
// different servers start far apart, so concurrent allocations rarely collide.
import { createHash } from 'node:crypto';
import type { V1Lease } from '@kubernetes/client-node';
import {
  API_VERSION,
  DEFAULTS,
  FORWARDED_SERVER,
  type ForwardedServer,
  type JumpNode,
} from '../api/types.js';
import { LABELS, objectKey, portClaimLabels, portClaimName } from '../names.js';
import { controllerRef } from './meta.js';

export interface PortRange {
  start: number;
  end: number;
}

export function portRange(jn: JumpNode): PortRange {
  return jn.spec.runner?.portRange ?? DEFAULTS.portRange;
}

export function inRange(port: number, range: PortRange): boolean {
  return Number.isInteger(port) && port >= range.start && port <= range.end;
}

function seed(fs: ForwardedServer): number {
  const key = objectKey(fs.metadata.namespace ?? '', fs.metadata.name);
  return createHash('sha256').update(key).digest().readUInt32BE(0);
}

/** Position of `port` in the server's probe order (0 = first choice); -1 when out of range. */
export function probeRank(fs: ForwardedServer, range: PortRange, port: number): number {
  if (!inRange(port, range)) return -1;
  const size = range.end - range.start + 1;
  const first = seed(fs) % size;
  return (port - range.start - first + size) % size;
}

/**
 * The first port in the server's probe order that is neither taken nor excluded; `preferred`
 * (the port the server already had, from its status) goes first when it is free and in range.
 */
export function choosePort(
  fs: ForwardedServer,
  range: PortRange,
  unavailable: (port: number) => boolean,
  preferred?: number,
): number | undefined {
  if (preferred !== undefined && inRange(preferred, range) && !unavailable(preferred))
    return preferred;
  const size = range.end - range.start + 1;
  const first = seed(fs) % size;
  for (let i = 0; i < size; i++) {
    const port = range.start + ((first + i) % size);
    if (!unavailable(port)) return port;
  }
  return undefined;
}

/** The Lease that reserves `port` on `jumpNode` for `fs`; the garbage collector frees it with fs. */
export function buildPortClaim(fs: ForwardedServer, jumpNode: string, port: number): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: portClaimName(jumpNode, port),
      namespace: fs.metadata.namespace,
      labels: portClaimLabels(jumpNode, fs.metadata.name),
      ownerReferences: [
        controllerRef({
          apiVersion: API_VERSION,
          kind: FORWARDED_SERVER.kind,
          metadata: fs.metadata,
        }),
      ],
    },
    spec: { holderIdentity: fs.metadata.name },
  };
}

/** Port and JumpNode of a claim, read back from its name and labels; undefined if not a claim. */
export function parseClaim(
  lease: Pick<V1Lease, 'metadata'>,
): { jumpNode: string; port: number; holder: string } | undefined {
  const labels = lease.metadata?.labels ?? {};
  const jumpNode = labels[LABELS.jumpNode];
  const holder = labels[LABELS.forwardedServer];
  const name = lease.metadata?.name ?? '';
  if (!jumpNode || !holder || !name.startsWith(`${jumpNode}-port-`)) return undefined;
  const port = Number(name.slice(jumpNode.length + 6));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { jumpNode, port, holder };
}
