// Stops the control plane started by global-setup.ts; runs even when tests failed.
export default async function globalTeardown(): Promise<void> {
  const cp = globalThis.__jfoControlPlane;
  globalThis.__jfoControlPlane = undefined;
  if (cp) await cp.stop();
}
