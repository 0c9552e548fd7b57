// Runs the kubectl built with the test control plane (same version as the API server), never
// through a shell.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { ControlPlaneInfo } from '../../src/dev/control-plane.js';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl; rejects with the output when it exits non-zero. */
export async function kubectl(
  cp: Pick<ControlPlaneInfo, 'binDir' | 'kubeconfigPath'>,
  args: string[],
  opts: { input?: string; context?: string } = {},
): Promise<string> {
  const r = await kubectlResult(cp, args, opts);
  if (r.code !== 0)
    throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Runs kubectl and returns exit code and output, also on failure. */
export function kubectlResult(
  cp: Pick<ControlPlaneInfo, 'binDir' | 'kubeconfigPath'>,
  args: string[],
  opts: { input?: string; context?: string } = {},
): Promise<KubectlResult> {
  const full = [
    `--kubeconfig=${cp.kubeconfigPath}`,
    ...(opts.context ? [`--context=${opts.context}`] : []),
    ...args,
  ];
  return new Promise((resolve) => {
    const child = execFile(
      join(cp.binDir, 'kubectl'),
      full,
      { maxBuffer: 32 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}
