// Host key pinning for the jump node. Pure.
//
// spec.hostKeys holds OpenSSH public key lines ("ssh-ed25519 AAAA... comment"). The runner accepts
// a server only if the key blob it presents is byte-identical to one of them, and it offers only
// the algorithms of the pinned keys, so that a server with several host keys presents a pinned
// one (what OpenSSH does with the key types in known_hosts).
import { createHash } from 'node:crypto';

export interface PinnedKey {
  /** Key type from the blob itself, e.g. "ssh-ed25519". */
  type: string;
  blob: Buffer;
  /** OpenSSH-style fingerprint: "SHA256:" + unpadded base64 of sha256(blob). */
  fingerprint: string;
}

export interface ParsedHostKeys {
  keys: PinnedKey[];
  errors: string[];
}

/** ssh2 host key algorithm names per pinned key type; SHA-1 "ssh-rsa" signatures are not offered. */
const ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256'],
};

export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The type string an SSH public key blob starts with, or undefined if it is malformed. */
export function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len < 1 || len > 64 || blob.length < 4 + len) return undefined;
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function parseHostKeys(lines: readonly string[]): ParsedHostKeys {
  const keys: PinnedKey[] = [];
  const errors: string[] = [];
  lines.forEach((line, i) => {
    const [declared, b64] = line.trim().split(/\s+/);
    const blob = b64 ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
    const type = blobType(blob);
    if (!declared || !type) errors.push(`hostKeys[${i}] is not an OpenSSH public key line`);
    else if (type !== declared)
      errors.push(`hostKeys[${i}] says ${declared} but holds a ${type} key`);
    else if (!ALGORITHMS[type]) errors.push(`hostKeys[${i}] has an unsupported key type ${type}`);
    else keys.push({ type, blob, fingerprint: fingerprint(blob) });
  });
  return { keys, errors };
}

/** Host key algorithms to offer, in the order the keys are pinned. */
export function hostKeyAlgorithms(keys: readonly PinnedKey[]): string[] {
  const out: string[] = [];
  for (const k of keys) for (const a of ALGORITHMS[k.type] ?? []) if (!out.includes(a)) out.push(a);
  return out;
}

export type HostKeyVerdict = { ok: true; fingerprint: string } | { ok: false; message: string };

/** Decides whether the key blob a server presented is one of the pinned keys. */
export function verifyHostKey(
  keys: readonly PinnedKey[],
  presented: Buffer,
  server: string,
): HostKeyVerdict {
  const fp = fingerprint(presented);
  if (keys.some((k) => k.blob.equals(presented))) return { ok: true, fingerprint: fp };
  const pinned = keys.map((k) => `${k.type} ${k.fingerprint}`).join(', ') || 'none';
  return {
    ok: false,
    message:
      `Host key verification failed: ${server} presented ${blobType(presented) ?? 'a'} key ` +
      `${fp}, which is not in spec.hostKeys (pinned: ${pinned}). Nothing is forwarded until ` +
      `spec.hostKeys lists the server's key.`,
  };
}
