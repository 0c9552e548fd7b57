import type { ForwardedServer } from '../../src/api/types.js';
import { classify } from '../../src/runner/problems.js';
import type { SessionSnapshot } from '../../src/runner/session.js';
import {
  wantedConnected,
  wantedServerConditions,
  type ServerView,
} from '../../src/runner/wanted.js';

const fs: ForwardedServer = {
  apiVersion: 'forward.hub.jupyter.org/v1alpha1',
  kind: 'ForwardedServer',
  metadata: { name: 'alice', namespace: 'ns', generation: 3 },
  spec: { user: { name: 'alice', id: 1 }, startId: 's', target: { host: '10.0.0.5', port: 8888 } },
};
const up: SessionSnapshot = {
  phase: 'connected',
  failures: 0,
  server: 'u@jump:22',
  insecure: false,
};
const down: SessionSnapshot = {
  phase: 'waiting',
  failures: 2,
  server: 'u@jump:22',
  insecure: false,
  problem: { reason: 'HostKeyMismatch', message: 'Host key verification failed: ...' },
};
const listening = { port: 20001, target: { host: '10.0.0.5', port: 8888 }, listening: true };
const view = (v: Partial<ServerView>): ServerView => ({
  fs,
  listenHost: '0.0.0.0',
  pod: 'p1',
  session: up,
  ...v,
});

describe('wantedServerConditions', () => {
  it.each<[string, Partial<ServerView>, [string, string], [string, string]]>([
    [
      'forwarding and reachable',
      { local: listening, probe: { reachable: true, message: 'ok' } },
      ['True', 'Forwarding'],
      ['True', 'Reachable'],
    ],
    [
      'target refused',
      { local: listening, probe: { reachable: false, message: 'refused' } },
      ['True', 'Forwarding'],
      ['False', 'Unreachable'],
    ],
    ['not probed yet', { local: listening }, ['True', 'Forwarding'], ['Unknown', 'Probing']],
    [
      'session down',
      { local: listening, session: down },
      ['False', 'HostKeyMismatch'],
      ['Unknown', 'TunnelDown'],
    ],
    [
      'port clash',
      { conflict: 'runner port 20001 is already used by bob' },
      ['False', 'PortConflict'],
      ['Unknown', 'NoTarget'],
    ],
    [
      'cannot listen',
      { local: { ...listening, listening: false, error: 'EADDRINUSE' } },
      ['False', 'ListenFailed'],
      ['Unknown', 'Probing'],
    ],
    ['no runner port yet', {}, ['False', 'WaitingForRunnerPort'], ['Unknown', 'NoTarget']],
    [
      'cancelled',
      { fs: { ...fs, spec: { ...fs.spec, cancelRequested: true } } },
      ['False', 'Cancelled'],
      ['Unknown', 'NoTarget'],
    ],
    [
      'no target yet',
      { fs: { ...fs, spec: { ...fs.spec, target: undefined } } },
      ['False', 'WaitingForTarget'],
      ['Unknown', 'NoTarget'],
    ],
    [
      'remote forward refused',
      {
        local: listening,
        remote: {
          bind: 'localhost:9000',
          target: { host: 'hub', port: 8081 },
          registered: false,
          error: 'port taken',
        },
      },
      ['False', 'RemoteForwardFailed'],
      ['Unknown', 'Probing'],
    ],
  ])('%s', (_name, v, tunnel, reach) => {
    const [t, r] = wantedServerConditions(view(v));
    expect([t!.status, t!.reason]).toEqual(tunnel);
    expect([r!.status, r!.reason]).toEqual(reach);
    expect(t!.observedGeneration).toBe(3);
  });

  it('says where connections go and which pod reports it', () => {
    const [t] = wantedServerConditions(
      view({
        local: listening,
        remote: { bind: 'localhost:9000', target: { host: 'hub', port: 8081 }, registered: true },
      }),
    );
    expect(t!.message).toBe(
      "0.0.0.0:20001 forwards to 10.0.0.5:8888 through u@jump:22; the jump node's localhost:9000 forwards to hub:8081 (runner pod p1)",
    );
  });

  it('tells that the listener stays open while the session is down', () => {
    const [t] = wantedServerConditions(view({ local: listening, session: down }));
    expect(t!.message).toContain('SSH connection is down: Host key verification failed');
    expect(t!.message).toContain('port 20001 stays open and resets new connections');
  });
});

describe('wantedConnected', () => {
  it('is True with the server and pod, and warns without host key check', () => {
    expect(wantedConnected({ ...up, insecure: true }, 'p1', 4)).toEqual({
      type: 'Connected',
      status: 'True',
      reason: 'Connected',
      message:
        'SSH session to u@jump:22 is up; WARNING: the host key is not verified (insecureSkipHostKeyCheck) (runner pod p1)',
      observedGeneration: 4,
    });
  });

  it('carries the failure reason', () => {
    expect(wantedConnected(down, 'p1')).toMatchObject({
      status: 'False',
      reason: 'HostKeyMismatch',
    });
    expect(
      wantedConnected({ phase: 'connecting', failures: 0, insecure: false }, 'p1'),
    ).toMatchObject({
      status: 'False',
      reason: 'Connecting',
    });
  });
});

describe('classify', () => {
  const s = {
    host: 'jump',
    port: 22,
    username: 'u',
    privateKey: Buffer.alloc(0),
    hostKeys: [],
    insecureSkipHostKeyCheck: false,
    keepaliveIntervalMs: 1000,
    keepaliveCountMax: 3,
    identity: 'x',
  };
  const err = (message: string, extra: object) => Object.assign(new Error(message), extra);
  it.each<[string, { ready: boolean; error?: Error; hostKeyProblem?: string }, string]>([
    [
      'host key',
      {
        ready: false,
        hostKeyProblem: 'Host key verification failed',
        error: err('Host denied', { level: 'handshake' }),
      },
      'HostKeyMismatch',
    ],
    [
      'auth',
      {
        ready: false,
        error: err('All configured authentication methods failed', {
          level: 'client-authentication',
        }),
      },
      'AuthenticationFailed',
    ],
    [
      'refused',
      { ready: false, error: err('connect ECONNREFUSED', { level: 'client-socket' }) },
      'ConnectionFailed',
    ],
    [
      'reset',
      { ready: true, error: err('read ECONNRESET', { level: 'client-socket' }) },
      'ConnectionLost',
    ],
    [
      'keepalive',
      { ready: true, error: err('Keepalive timeout', { level: 'client-timeout' }) },
      'KeepaliveTimeout',
    ],
    [
      'handshake timeout',
      {
        ready: false,
        error: err('Timed out while waiting for handshake', { level: 'client-timeout' }),
      },
      'HandshakeTimeout',
    ],
    [
      'server disconnect',
      { ready: true, error: err('Too many connections', { code: 11 }) },
      'DisconnectedByServer',
    ],
    [
      'protocol',
      { ready: false, error: err('Bad packet length', { level: 'protocol' }) },
      'ProtocolError',
    ],
    ['closed', { ready: true }, 'ConnectionClosed'],
  ])('%s', (_name, attempt, reason) => {
    const p = classify(attempt, s);
    expect(p.reason).toBe(reason);
    expect(p.message).toBeTruthy();
  });
});
