// How the runner reaches its jump node, derived from the JumpNode and the mounted key file: the
// SSH connection settings, or the reason it cannot try. Used by the data plane only (it loads
// ssh2 to check the key), so the control-plane thread never loads ssh2.
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import { DEFAULTS, type JumpNode } from '../api/types.js';
import { parseHostKeys, type PinnedKey } from './hostkeys.js';
import type { PrivateKeyFile } from './key-file.js';

function privateKeyProblem(data: Buffer): string | undefined {
  const parsed: unknown = ssh2.utils.parseKey(data);
  if (parsed instanceof Error) return parsed.message;
  const key = (Array.isArray(parsed) ? parsed[0] : parsed) as ssh2.ParsedKey | undefined;
  if (!key) return 'no key found';
  if (key.getPrivatePEM() === null) return 'it holds a public key only';
  return undefined;
}

export interface ConnectionSettings {
  host: string;
  port: number;
  username: string;
  privateKey: Buffer;
  hostKeys: PinnedKey[];
  insecureSkipHostKeyCheck: boolean;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  /** Changes whenever anything above changes: a new identity means "reconnect now". */
  identity: string;
}

export type SettingsResult =
  { ok: true; settings: ConnectionSettings } | { ok: false; reason: string; message: string };

/** How to reach the jump node, or why the runner cannot try. */
export function connectionSettings(
  jn: JumpNode | undefined,
  key: PrivateKeyFile | undefined,
): SettingsResult {
  if (!jn) return { ok: false, reason: 'JumpNodeNotFound', message: 'The JumpNode does not exist' };
  const ref = jn.spec.privateKeySecretRef;
  const dataKey = ref.key ?? DEFAULTS.privateKeySecretKey;
  const what = `key "${dataKey}" of Secret ${ref.name}`;
  if (!key || key.error)
    return {
      ok: false,
      reason: 'KeyUnreadable',
      message: `Cannot read the ${what}${key?.error ? `: ${key.error}` : ''}`,
    };
  if (key.data === undefined)
    return {
      ok: false,
      reason: 'KeyNotFound',
      message: `The ${what} is not mounted at ${key.path} (the Secret or the key does not exist)`,
    };
  const privateKey = Buffer.from(key.data, 'base64');
  const problem = privateKeyProblem(privateKey);
  if (problem)
    return {
      ok: false,
      reason: 'KeyInvalid',
      message: `The ${what} is not an unencrypted OpenSSH or PEM private key: ${problem}`,
    };
  const insecure = jn.spec.insecureSkipHostKeyCheck === true;
  const { keys, errors } = parseHostKeys(jn.spec.hostKeys ?? []);
  if (!insecure && keys.length === 0)
    return {
      ok: false,
      reason: 'HostKeysInvalid',
      message: `spec.hostKeys has no usable key: ${errors.join('; ') || 'the list is empty'}`,
    };
  const settings = {
    host: jn.spec.host,
    port: jn.spec.port ?? DEFAULTS.jumpNodePort,
    username: jn.spec.username,
    privateKey,
    hostKeys: keys,
    insecureSkipHostKeyCheck: insecure,
    keepaliveIntervalMs:
      (jn.spec.keepalive?.intervalSeconds ?? DEFAULTS.keepaliveIntervalSeconds) * 1000,
    keepaliveCountMax: jn.spec.keepalive?.countMax ?? DEFAULTS.keepaliveCountMax,
  };
  const identity = createHash('sha256')
    .update(JSON.stringify({ ...settings, privateKey: privateKey.toString('base64') }))
    .digest('hex');
  return { ok: true, settings: { ...settings, identity } };
}
