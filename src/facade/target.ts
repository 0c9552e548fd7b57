// The one check every notebook target passes before the facade writes it: PUT's `target` and
// `remoteForward.target`, PATCH's `target` and setuptunnel's `service` all go through
// checkTarget. A policy on where tunnels may lead (allowed networks and ports) belongs here.
// Pure.
import { isIP } from 'node:net';
import type { HostPort } from '../api/types.js';
import { badRequest } from './errors.js';

/** The CRD's rule for a host: a DNS name (labels of letters, digits, `-`, `_`) or an IP address. */
const DNS_NAME =
  /^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

export function isTargetHost(host: string): boolean {
  return host.length > 0 && host.length <= 253 && (DNS_NAME.test(host) || isIP(host) !== 0);
}

/**
 * The target to write, or a 400 naming the resource field (`field`, e.g. `spec.target`) and the
 * rule it breaks, worded like the API server's validation of the same field.
 */
export function checkTarget(target: HostPort, field: string): HostPort {
  if (!isTargetHost(target.host))
    throw badRequest(
      `Bad Request: ${field}.host: must be a DNS name or an IP address (no scheme, port or path), got ${JSON.stringify(target.host)}`,
    );
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535)
    throw badRequest(`Bad Request: ${field}.port: must be a port from 1 to 65535`);
  return { host: target.host, port: target.port };
}
