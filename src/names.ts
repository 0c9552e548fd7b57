// One place for every name, label and selector the project derives. Pure functions.
//
// Server names follow the reference (ForwardBaseSpawner): the template
// `jupyter-{username}--{servername}` with escapism escaping (unsafe characters become `-xx` per
// UTF-8 byte) and trailing dashes stripped. Unlike the reference, names are
//   - always valid DNS-1035 labels of at most 63 characters, and
//   - injective: two different (user, server) pairs never share a name.
// A name is kept verbatim only when both parts are "plain" (lowercase letters, digits and single
// inner dashes), which no escaped or truncated name can be confused with; every other name gets
// the suffix `---` + 10 hex digits of a SHA-256 over the raw pair. Verbatim names never contain
// `---`, so verbatim and hashed names cannot collide.
import { createHash } from 'node:crypto';
import { GROUP } from './api/types.js';

export const MAX_DNS_LABEL = 63;
const HASH_LEN = 10;
const HASH_SEP = '---';
const PLAIN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const SAFE = /[a-z0-9-]/;

/** escapism.escape(s, safe=[a-z0-9-], escape_char='%').lower().replace('%', '-') */
export function escapeReference(s: string): string {
  let out = '';
  for (const ch of s) {
    if (SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '-' + b.toString(16).padStart(2, '0');
  }
  return out;
}

function shortHash(...parts: string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, HASH_LEN);
}

/** What the reference would name the Service (no length cap, not injective). */
export function referenceServerName(userName: string, serverName: string): string {
  return `jupyter-${escapeReference(userName)}--${escapeReference(serverName)}`.replace(/-+$/, '');
}

/**
 * Name of the ForwardedServer and of its Service for one user's server: DNS-1035, at most 63
 * characters, injective over (userName, serverName).
 */
export function serverResourceName(userName: string, serverName: string): string {
  const plain = PLAIN.test(userName) && (serverName === '' || PLAIN.test(serverName));
  const ref = referenceServerName(userName, serverName);
  if (plain && ref.length <= MAX_DNS_LABEL) return ref;
  const suffix = HASH_SEP + shortHash(userName, serverName);
  return ref.slice(0, MAX_DNS_LABEL - suffix.length) + suffix;
}

/**
 * A label value (at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends) that
 * identifies `raw`: the escaped form when it fits, else a truncated form plus a hash.
 */
export function labelValue(raw: string): string {
  const escaped = escapeReference(raw);
  const fits =
    escaped.length <= MAX_DNS_LABEL && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$|^$/.test(escaped);
  if (fits && PLAIN.test(raw)) return escaped;
  if (raw === '') return '';
  const h = shortHash(raw);
  const head = escaped.slice(0, MAX_DNS_LABEL - HASH_LEN - 2).replace(/^-+|-+$/g, '');
  return head ? `${head}--${h}` : `x--${h}`;
}

// ---------------------------------------------------------------------------------------------
// Labels

export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
  hubUsername: 'hub.jupyter.org/username',
  hubServername: 'hub.jupyter.org/servername',
  /** z2jh's plain `component` label; the reference sets it to `singleuser-server`. */
  z2jhComponent: 'component',
  jumpNode: `${GROUP}/jumpnode`,
  forwardedServer: `${GROUP}/forwardedserver`,
  /**
   * On a Secret, set by the admin: "true" lets JumpNodes of its namespace name it as their
   * private key (spec.privateKeySecretRef). Any other Secret is refused.
   */
  runnerKey: `${GROUP}/runner-key`,
} as const;

export const APP_NAME = 'jupyterhub-forward-operator';
export const FIELD_MANAGER = 'jupyterhub-forward-operator';
export const RUNNER_FIELD_MANAGER = 'jupyterhub-forward-runner';
export const FACADE_FIELD_MANAGER = 'jupyterhub-forward-facade';
/** reportingController of the Events each component records. */
export const OPERATOR_EVENT_SOURCE = `${GROUP}/operator`;
export const RUNNER_EVENT_SOURCE = `${GROUP}/runner`;

/** Labels on the Service of a ForwardedServer (before the user's extra labels). */
export function serverLabels(
  userName: string,
  serverName: string,
  fsName: string,
): Record<string, string> {
  return {
    [LABELS.name]: APP_NAME,
    [LABELS.component]: 'singleuser-server',
    [LABELS.managedBy]: APP_NAME,
    [LABELS.instance]: fsName,
    [LABELS.z2jhComponent]: 'singleuser-server',
    [LABELS.hubUsername]: labelValue(userName),
    [LABELS.hubServername]: labelValue(serverName),
    [LABELS.forwardedServer]: fsName,
  };
}

// ---------------------------------------------------------------------------------------------
// Tunnel runner (one per JumpNode)

/** Deployment, ServiceAccount, Role and RoleBinding name of a JumpNode's tunnel runner. */
export function runnerName(jumpNodeName: string): string {
  return `${jumpNodeName}-tunnel-runner`;
}

/** The immutable selector of a JumpNode's runner pods (also the Services' selector). */
export function runnerSelector(jumpNodeName: string): Record<string, string> {
  return {
    [LABELS.name]: APP_NAME,
    [LABELS.component]: 'tunnel-runner',
    [LABELS.jumpNode]: jumpNodeName,
  };
}

export function runnerLabels(jumpNodeName: string): Record<string, string> {
  return {
    ...runnerSelector(jumpNodeName),
    [LABELS.managedBy]: APP_NAME,
    [LABELS.instance]: jumpNodeName,
  };
}

/** Key of the work queue and of informer caches. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

// ---------------------------------------------------------------------------------------------
// Runner port claims (one coordination.k8s.io Lease per allocated port and JumpNode)

/**
 * Name of the Lease that claims `port` on a JumpNode. Creating it is the compare-and-swap of the
 * port allocation: the API server lets only one object of a name exist. JumpNode names are at
 * most 40 characters (CRD rule), so this stays within 63.
 */
export function portClaimName(jumpNodeName: string, port: number): string {
  return `${jumpNodeName}-port-${port}`;
}

/** Labels of a port claim; `forwardedServer` is the holder's name. */
export function portClaimLabels(
  jumpNodeName: string,
  forwardedServer: string,
): Record<string, string> {
  return {
    [LABELS.name]: APP_NAME,
    [LABELS.component]: 'port-claim',
    [LABELS.managedBy]: APP_NAME,
    [LABELS.jumpNode]: jumpNodeName,
    [LABELS.forwardedServer]: forwardedServer,
  };
}

/** Label selector (string form) of every port claim. */
export const PORT_CLAIM_SELECTOR = `${LABELS.managedBy}=${APP_NAME},${LABELS.component}=port-claim`;

/** Label selector (string form) of every object the operator manages. */
export const MANAGED_SELECTOR = `${LABELS.managedBy}=${APP_NAME}`;
