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
import { BlockList, isIP } from 'node:net';
import type { HostPort, JumpNode } from '../api/types.js';
import type { EnvReader } from '../config/env.js';

/** Ranges no forward may reach unless explicitly allowed (see the header). */
const SPECIAL_RANGES: ReadonlyArray<readonly [string, string]> = [
  ['0.0.0.0/8', 'an unspecified address'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.0.0/16', 'a link-local address'],
  ['224.0.0.0/4', 'a multicast address'],
  ['::/128', 'an unspecified address'],
  ['::1/128', 'a loopback address'],
  ['fe80::/10', 'a link-local address'],
  ['ff00::/8', 'a multicast address'],
  ['::ffff:0:0/96', 'an IPv4-mapped address'],
];

/** The kubeadm defaults for the Service and Pod ranges. */
export const DEFAULT_CLUSTER_CIDRS = ['10.96.0.0/12', '10.244.0.0/16'];
const CLUSTER_DOMAIN_SUFFIXES = ['.svc', '.cluster.local'];

interface Cidr {
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
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

function family(host: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(host);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

function contains(cidr: Cidr, host: string): boolean {
  const f = family(host);
  if (!f || f !== cidr.family) return false;
  const list = new BlockList();
  list.addSubnet(cidr.network, cidr.prefix, cidr.family);
  return list.check(host, f);
}

/** Whether `inner` lies wholly inside `outer`. */
function within(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.network);
}

function cidrs(list: readonly string[] | undefined): Cidr[] {
  return (list ?? []).map(parseCidr).filter((c): c is Cidr => c !== undefined);
}

/** Which special range an IP lies in, if any. */
function specialRange(host: string): [Cidr, string] | undefined {
  for (const [text, what] of SPECIAL_RANGES) {
    const c = parseCidr(text)!;
    if (contains(c, host)) return [c, what];
  }
  return undefined;
}

const target = (t: HostPort) => `${t.host}:${t.port}`;

/** Why a JumpNode's policy refuses this tunnel target, or undefined when it allows it. */
export function tunnelTargetProblem(t: HostPort, jn: JumpNode): string | undefined {
  const policy = jn.spec.targetPolicy ?? {};
  const allowed = cidrs(policy.allowedCIDRs);
  const node = jn.metadata.name;
  const ranges = policy.allowedPorts ?? [];
  if (ranges.length && !ranges.some((r) => t.port >= r.start && t.port <= r.end))
    return `target ${target(t)}: port ${t.port} is not in spec.targetPolicy.allowedPorts of JumpNode ${node}`;
  const host = t.host.toLowerCase().replace(/\.$/, '');
  if (!family(host)) {
    if (host === 'localhost' || host.endsWith('.localhost'))
      return `target ${target(t)} is the jump node itself (localhost)`;
    if (host === jn.spec.host.toLowerCase().replace(/\.$/, ''))
      return `target ${target(t)} is the jump node's own address`;
    if (allowed.length)
      return `target ${target(t)}: JumpNode ${node} allows only IP targets in spec.targetPolicy.allowedCIDRs`;
    return undefined;
  }
  const special = specialRange(host);
  if (special && !allowed.some((a) => within(a, special[0]) && contains(a, host)))
    return `target ${target(t)} is ${special[1]}, which JumpNode ${node} does not allow (spec.targetPolicy.allowedCIDRs)`;
  if (
    family(jn.spec.host) &&
    host === jn.spec.host.toLowerCase() &&
    !allowed.some((a) => a.prefix === (a.family === 'ipv4' ? 32 : 128) && contains(a, host))
  )
    return `target ${target(t)} is the jump node's own address`;
  if (allowed.length && !allowed.some((a) => contains(a, host)))
    return `target ${target(t)} is not in spec.targetPolicy.allowedCIDRs of JumpNode ${node}`;
  return undefined;
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
  const host = t.host.toLowerCase().replace(/\.$/, '');
  if (!family(host)) {
    if (host === 'kubernetes' || CLUSTER_DOMAIN_SUFFIXES.some((s) => host.endsWith(s)))
      return `target ${target(t)} is a name in the cluster's DNS domain, which direct servers may not reach`;
    return undefined;
  }
  const cluster = cidrs(policy.clusterCidrs).find((c) => contains(c, host));
  if (cluster)
    return `target ${target(t)} is in the cluster range ${cluster.network}/${cluster.prefix} (JFO_CLUSTER_CIDRS), which direct servers may not reach`;
  const allowed = cidrs(policy.allowedCidrs);
  if (allowed.length && !allowed.some((a) => contains(a, host)))
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
