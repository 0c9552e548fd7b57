// The ssh2 client options for one connection attempt. Host keys are always checked (unless the
// JumpNode opts out explicitly) and only the pinned key types are offered; keepalive is always on;
// the key exchange, cipher and MAC algorithms are the runner's own list (algorithms.ts).
import type net from 'node:net';
import type ssh2 from 'ssh2';
import { CIPHERS, KEX, MACS } from './algorithms.js';
import type { ConnectionSettings } from './connection-settings.js';
import { hostKeyAlgorithms, verifyHostKey } from './hostkeys.js';

/**
 * An attempt to a blackholed node hangs in TCP SYN retransmission until readyTimeout; capping it
 * at the keepalive bound keeps "back within the keepalive bound" true when the node returns.
 */
export function readyTimeout(configured: number, s: ConnectionSettings): number {
  return Math.min(configured, Math.max(5000, s.keepaliveIntervalMs * s.keepaliveCountMax));
}

export function connectConfig(
  s: ConnectionSettings,
  sock: net.Socket,
  readyTimeoutMs: number,
  onHostKeyProblem: (message: string) => void,
): ssh2.ConnectConfig {
  const server = `${s.host}:${s.port}`;
  const hostVerifier = (key: Buffer): boolean => {
    if (s.insecureSkipHostKeyCheck) return true;
    const verdict = verifyHostKey(s.hostKeys, key, server);
    if (!verdict.ok) onHostKeyProblem(verdict.message);
    return verdict.ok;
  };
  return {
    sock,
    username: s.username,
    privateKey: s.privateKey,
    hostVerifier,
    keepaliveInterval: s.keepaliveIntervalMs,
    keepaliveCountMax: s.keepaliveCountMax,
    readyTimeout: readyTimeout(readyTimeoutMs, s),
    algorithms: {
      kex: KEX,
      cipher: CIPHERS,
      hmac: MACS,
      ...(s.insecureSkipHostKeyCheck
        ? {}
        : { serverHostKey: hostKeyAlgorithms(s.hostKeys) as ssh2.ServerHostKeyAlgorithm[] }),
    },
  };
}
