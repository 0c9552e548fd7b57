// Why an SSH connection attempt ended, as a condition reason and a message a person can act on.
// Pure.
import { errorMessage } from '../log-lines.js';
import type { ConnectionSettings } from './connection-settings.js';

export interface SessionProblem {
  reason: string;
  message: string;
}

/** How an attempt ended: whether it got ready, its first error, and a host key refusal. */
export interface AttemptOutcome {
  ready: boolean;
  error?: Error & { level?: string; code?: unknown };
  hostKeyProblem?: string;
}

/** winston merges a meta `message` into the log message: name it `detail`. */
export const logFields = (p: SessionProblem) => ({ reason: p.reason, detail: p.message });

/** Turns how an attempt ended into a condition reason and a message a person can act on. */
export function classify(a: AttemptOutcome, s?: ConnectionSettings): SessionProblem {
  const server = s ? `${s.username}@${s.host}:${s.port}` : 'the jump node';
  if (a.hostKeyProblem) return { reason: 'HostKeyMismatch', message: a.hostKeyProblem };
  const err = a.error;
  const detail = err ? errorMessage(err) : '';
  switch (err?.level) {
    case 'client-authentication':
      return {
        reason: 'AuthenticationFailed',
        message: `The jump node refused the key from spec.privateKeySecretRef for ${server}: ${detail}`,
      };
    case 'client-timeout':
      return a.ready
        ? { reason: 'KeepaliveTimeout', message: `${server} stopped answering keepalives` }
        : { reason: 'HandshakeTimeout', message: `No SSH handshake with ${server}: ${detail}` };
    case 'client-socket':
    case 'client-dns':
      return a.ready
        ? { reason: 'ConnectionLost', message: `Connection to ${server} lost: ${detail}` }
        : { reason: 'ConnectionFailed', message: `Cannot connect to ${server}: ${detail}` };
    default:
      break;
  }
  if (typeof err?.code === 'number')
    return { reason: 'DisconnectedByServer', message: `${server} disconnected: ${detail}` };
  if (err) return { reason: 'ProtocolError', message: `SSH error with ${server}: ${detail}` };
  return a.ready
    ? { reason: 'ConnectionClosed', message: `${server} closed the SSH connection` }
    : { reason: 'ConnectionFailed', message: `Cannot connect to ${server}: connection closed` };
}
