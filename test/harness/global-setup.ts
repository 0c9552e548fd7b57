// Starts one real control plane for the whole jest run (shared by the integration and e2e
// projects) and installs the CRDs and the admission policies. Test files reach it through cluster.ts.
import './ts-resolve.cjs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../../src/dev/control-plane.js';
import { kubectl } from './kubectl.js';

declare global {
  var __jfoControlPlane: ControlPlane | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (globalThis.__jfoControlPlane) return;
  const started = Date.now();
  const cp = await startControlPlane();
  globalThis.__jfoControlPlane = cp;
  const infoPath = join(cp.dir, 'cluster.json');
  const { restartApiServer: _r, stop: _s, ...info } = cp;
  writeFileSync(infoPath, JSON.stringify(info));
  process.env.JFO_TEST_CLUSTER = infoPath;
  await kubectl(info, ['apply', '--server-side', '-k', 'crds/']);
  await kubectl(info, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  // The admission policies bound the runners' and the facade's writes in every test, so the
  // happy paths are shown to work within them.
  await kubectl(info, ['apply', '--server-side', '-k', 'manifests/policy/']);
  process.stderr.write(
    `\nTest control plane ready at ${cp.server} in ${Date.now() - started} ms\n`,
  );
}
