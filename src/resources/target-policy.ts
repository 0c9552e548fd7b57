// Where a forward may lead. Pure; the facade (setuptunnel, the spawner's PUT/PATCH), the operator
// and the runner all ask these functions, so a refused target never becomes even half a forward.
//
// Tunnelled servers (JumpNode.spec.targetPolicy, set by whoever writes the JumpNode):
//   - allowedCIDRs: an IP target must lie in one of them (default: any address);
//   - allowedPorts: the target port must lie in one of these ranges (default: any port);
//   - always refused unless an entry of allowedCIDRs lying wholly inside the range allows it:
//     loopback, link-local, unspecified and multicast addresses, and the jump node's own address
//     (spec.host when it is an IP); a host name is refused when it is `localhost` (or below it)
//     or the jump node's own spec.host. Other host names are resolved by the jump node and are
//     allowed unless allowedCIDRs is set, since no CIDR can be checked for them here.
// Direct servers (operator-wide settings, DirectTargetPolicy): an IP target in the cluster's
// Service or Pod ranges (JFO_CLUSTER_CIDRS) or a host name in the cluster's DNS domain
// (`.svc`, `.cluster.local`) is refused, and with JFO_DIRECT_ALLOWED_CIDRS set an IP target must
// lie in one of those ranges.
import { isIP } from 'node:net';
import type { HostPort, JumpNode } from '../api/types.js';
import type { EnvReader } from '../config/env.js';

interface Cidr {
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** A parsed CIDR: its network address as bytes (4 for IPv4, 16 for IPv6). */
interface Range {
  cidr: Cidr;
  bytes: Uint8Array;
}

/** Parses `a.b.c.d/n` or `x::y/n`; undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const v = isIP(m[1]!);
  const prefix = Number(m[2]);
  if (!v || prefix > (v === 4 ? 32 : 128)) return undefined;
  return { network: m[1]!, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

const ipv4Bytes = (text: string) => text.split('.').map(Number);

/**
 * An IP address as bytes: 4 for IPv4, 16 for IPv6 (a zone index is ignored); undefined when
 * `host` is not an IP address.
 */
export function addressBytes(host: string): Uint8Array | undefined {
  const v = isIP(host);
  if (v === 4) return Uint8Array.from(ipv4Bytes(host));
  if (v !== 6) return undefined;
  const text = host.split('%')[0]!;
  const words = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (!group.includes('.')) out.push(parseInt(group, 16));
      else {
        const [a, b, c, d] = ipv4Bytes(group) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      }
    }
    return out;
  };
  const gap = text.indexOf('::');
  const head = words(gap < 0 ? text : text.slice(0, gap));
  const tail = gap < 0 ? [] : words(text.slice(gap + 2));
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((w, i) => ((out[2 * i] = w >> 8), (out[2 * i + 1] = w & 0xff)));
  return out;
}

function toRange(cidr: Cidr): Range {
  return { cidr, bytes: addressBytes(cidr.network)! };
}

/** Whether `addr` (addressBytes) lies in `r`; an IPv4 address never lies in an IPv6 range. */
function inRange(r: Range, addr: Uint8Array): boolean {
  if (addr.length !== r.bytes.length) return false;
  const whole = r.cidr.prefix >> 3;
  for (let i = 0; i < whole; i++) if (addr[i] !== r.bytes[i]) return false;
  const bits = r.cidr.prefix & 7;
  if (!bits) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (addr[whole]! & mask) === (r.bytes[whole]! & mask);
}

/** Whether `inner` lies wholly inside `outer`. */
function within(inner: Range, outer: Range): boolean {
  return inner.cidr.prefix >= outer.cidr.prefix && inRange(outer, inner.bytes);
}

function ranges(list: readonly string[] | undefined): Range[] {
  const out: Range[] = [];
  for (const text of list ?? []) {
    const c = parseCidr(text);
    if (c) out.push(toRange(c));
  }
  return out;
}

/** Ranges no forward may reach unless explicitly allowed (see the header). */
const SPECIAL_RANGES: ReadonlyArray<readonly [Range, string]> = (
  [
    ['0.0.0.0/8', 'an unspecified address'],
    ['127.0.0.0/8', 'a loopback address'],
    ['169.254.0.0/16', 'a link-local address'],
    ['224.0.0.0/4', 'a multicast address'],
    ['::/128', 'an unspecified address'],
    ['::1/128', 'a loopback address'],
    ['fe80::/10', 'a link-local address'],
    ['ff00::/8', 'a multicast address'],
    ['::ffff:0:0/96', 'an IPv4-mapped address'],
  ] as const
).map(([text, what]) => [toRange(parseCidr(text)!), what] as const);

/** The kubeadm defaults for the Service and Pod ranges. */
export const DEFAULT_CLUSTER_CIDRS = ['10.96.0.0/12', '10.244.0.0/16'];
const CLUSTER_DOMAIN_SUFFIXES = ['.svc', '.cluster.local'];

/** Which special range an IP lies in, if any. */
function specialRange(addr: Uint8Array): readonly [Range, string] | undefined {
  return SPECIAL_RANGES.find(([r]) => inRange(r, addr));
}

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

const target = (t: HostPort) => `${t.host}:${t.port}`;

const hostName = (host: string) => host.toLowerCase().replace(/\.$/, '');

/** Why a target is refused, or undefined when it is allowed. */
export type TargetCheck = (t: HostPort) => string | undefined;

/**
 * A JumpNode's policy, parsed once: the check of tunnel targets through it. Check many targets
 * against one JumpNode with one TargetCheck (the runner checks every forward on each reconcile).
 */
export function tunnelTargetCheck(jn: JumpNode): TargetCheck {
  const policy = jn.spec.targetPolicy ?? {};
  const allowed = ranges(policy.allowedCIDRs);
  const node = jn.metadata.name;
  const ports = policy.allowedPorts ?? [];
  const ownName = hostName(jn.spec.host);
  const ownAddress = addressBytes(jn.spec.host);
  return (t) => {
    if (ports.length && !ports.some((r) => t.port >= r.start && t.port <= r.end))
      return `target ${target(t)}: port ${t.port} is not in spec.targetPolicy.allowedPorts of JumpNode ${node}`;
    const host = hostName(t.host);
    const addr = addressBytes(host);
    if (!addr) {
      if (host === 'localhost' || host.endsWith('.localhost'))
        return `target ${target(t)} is the jump node itself (localhost)`;
      if (host === ownName) return `target ${target(t)} is the jump node's own address`;
      if (allowed.length)
        return `target ${target(t)}: JumpNode ${node} allows only IP targets in spec.targetPolicy.allowedCIDRs`;
      return undefined;
    }
    const special = specialRange(addr);
    if (special && !allowed.some((a) => within(a, special[0]) && inRange(a, addr)))
      return `target ${target(t)} is ${special[1]}, which JumpNode ${node} does not allow (spec.targetPolicy.allowedCIDRs)`;
    if (
      ownAddress &&
      sameBytes(addr, ownAddress) &&
      !allowed.some((a) => a.cidr.prefix === addr.length * 8 && inRange(a, addr))
    )
      return `target ${target(t)} is the jump node's own address`;
    if (allowed.length && !allowed.some((a) => inRange(a, addr)))
      return `target ${target(t)} is not in spec.targetPolicy.allowedCIDRs of JumpNode ${node}`;
    return undefined;
  };
}

/** Why a JumpNode's policy refuses this tunnel target, or undefined when it allows it. */
export function tunnelTargetProblem(t: HostPort, jn: JumpNode): string | undefined {
  return tunnelTargetCheck(jn)(t);
}

/** The operator-wide policy for direct servers (no JumpNode). */
export interface DirectTargetPolicy {
  /** Refused IP ranges: the cluster's Service and Pod ranges. */
  clusterCidrs: readonly string[];
  /** When not empty, an IP target must lie in one of these. */
  allowedCidrs: readonly string[];
}

export const DEFAULT_DIRECT_POLICY: DirectTargetPolicy = {
  clusterCidrs: DEFAULT_CLUSTER_CIDRS,
  allowedCidrs: [],
};

/** Reads JFO_CLUSTER_CIDRS and JFO_DIRECT_ALLOWED_CIDRS (comma-separated CIDRs). */
export function readDirectTargetPolicy(r: EnvReader): DirectTargetPolicy {
  const list = (name: string, fallback: readonly string[]) => {
    const raw = r.optional(name);
    if (raw === undefined) return [...fallback];
    const items = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = items.filter((s) => !parseCidr(s));
    if (bad.length)
      r.problems.push(
        `${name} must be a comma-separated list of CIDRs (got "${bad.join('", "')}")`,
      );
    return items.filter((s) => parseCidr(s));
  };
  return {
    clusterCidrs: list('JFO_CLUSTER_CIDRS', DEFAULT_CLUSTER_CIDRS),
    allowedCidrs: list('JFO_DIRECT_ALLOWED_CIDRS', []),
  };
}

/** Why the operator-wide policy refuses this direct target, or undefined when it allows it. */
export function directTargetProblem(t: HostPort, policy: DirectTargetPolicy): string | undefined {
  const host = hostName(t.host);
  const addr = addressBytes(host);
  if (!addr) {
    if (host === 'kubernetes' || CLUSTER_DOMAIN_SUFFIXES.some((s) => host.endsWith(s)))
      return `target ${target(t)} is a name in the cluster's DNS domain, which direct servers may not reach`;
    return undefined;
  }
  const cluster = ranges(policy.clusterCidrs).find((r) => inRange(r, addr))?.cidr;
  if (cluster)
    return `target ${target(t)} is in the cluster range ${cluster.network}/${cluster.prefix} (JFO_CLUSTER_CIDRS), which direct servers may not reach`;
  const allowed = ranges(policy.allowedCidrs);
  if (allowed.length && !allowed.some((a) => inRange(a, addr)))
    return `target ${target(t)} is not in JFO_DIRECT_ALLOWED_CIDRS`;
  return undefined;
}

/** The one check for a ForwardedServer's target: through its JumpNode, or direct. */
export function targetProblem(
  t: HostPort,
  jumpNode: JumpNode | undefined,
  direct: DirectTargetPolicy,
): string | undefined {
  return jumpNode ? tunnelTargetProblem(t, jumpNode) : directTargetProblem(t, direct);
}
