// The remote site of the end-to-end test and the demo: an OpenSSH sshd as the jump node and a
// compute node behind it where notebook servers run.
//
// As root (the test machines), the site is two network namespaces (netns.ts): the host reaches
// only the jump node, and the compute node is reachable only from the jump node, so a notebook
// answers only through the SSH tunnel. sshd allows `GatewayPorts clientspecified`, so a remote
// forward can listen on the jump node's inner address, where the compute node reaches it (the
// hub API for the notebooks). Without root there are no namespaces: sshd listens on a loopback
// port and the "compute node" is this host (the tunnel still carries the traffic, but nothing
// enforces it).
import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { stopChild } from '../../src/dev/process.js';
import { createRemoteTopology, type RemoteTopology } from './netns.js';
import { startSshd, type Sshd } from './sshd.js';

export interface RemoteSite {
  /** 'netns' (root: isolated namespaces) or 'loopback' (no isolation). */
  mode: 'netns' | 'loopback';
  /** The jump node as the runner reaches it. */
  jumpHost: string;
  jumpPort: number;
  jumpUser: string;
  /** The jump node's host key, "ssh-ed25519 AAAA...", to pin in the JumpNode. */
  hostKey: string;
  /** The private key the JumpNode's Secret holds (authorized on the jump node). */
  privateKey: string;
  /** Network namespace of the compute node ('' in loopback mode). */
  computeNetns: string;
  /** The compute node as the jump node reaches it (notebooks listen here). */
  computeAddress: string;
  /** The jump node as the compute node reaches it (remote forwards listen here). */
  jumpInnerAddress: string;
  topology?: RemoteTopology;
  sshd: Sshd;
  /** Starts notebook_server.py without a hub (anyone may look) on the compute node. */
  startNotebook(port: number): Promise<{ stop(): Promise<void> }>;
  /** The jump node crashes (sshd and its sessions SIGKILLed) and comes back with the same keys. */
  restartJumpNode(): Promise<void>;
  close(): Promise<void>;
}

const ROOT = typeof __dirname === 'string' ? resolve(__dirname, '../..') : process.cwd();
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
export const NOTEBOOK_SERVER = join(ROOT, 'test', 'harness', 'remote', 'notebook_server.py');

async function startNotebook(computeNetns: string, port: number) {
  const argv = [PYTHON, NOTEBOOK_SERVER, String(port)];
  const child = computeNetns
    ? spawn('/usr/sbin/ip', ['netns', 'exec', computeNetns, ...argv], { stdio: 'pipe' })
    : spawn(argv[0]!, argv.slice(1), { stdio: 'pipe' });
  let out = '';
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on')) res();
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', rej);
    child.once('exit', (code) => rej(new Error(`The notebook server exited (${code}): ${out}`)));
  });
  return {
    async stop() {
      await stopChild(child);
    },
  };
}

export async function startRemoteSite(): Promise<RemoteSite> {
  const root = process.getuid?.() === 0;
  const topology = root ? await createRemoteTopology() : undefined;
  let sshd: Sshd;
  try {
    sshd = await startSshd({
      netns: topology?.jumpNs,
      user: root ? 'root' : userInfo().username,
      extraConfig: ['GatewayPorts clientspecified'],
    });
  } catch (err) {
    await topology?.destroy();
    throw err;
  }
  return {
    mode: topology ? 'netns' : 'loopback',
    jumpHost: topology?.jumpAddr ?? sshd.host,
    jumpPort: sshd.port,
    jumpUser: sshd.user,
    hostKey: sshd.hostPublicKey,
    privateKey: sshd.clientPrivateKey,
    computeNetns: topology?.computeNs ?? '',
    computeAddress: topology?.computeAddr ?? '127.0.0.1',
    jumpInnerAddress: topology?.jumpInnerAddr ?? '127.0.0.1',
    topology,
    sshd,
    startNotebook: (port) => startNotebook(topology?.computeNs ?? '', port),
    async restartJumpNode() {
      await sshd.kill();
      await sshd.start();
    },
    async close() {
      await sshd.stop();
      // Deleting the namespaces also kills every process left in them (notebooks).
      await topology?.destroy();
    },
  };
}
