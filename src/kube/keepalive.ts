// Connection reuse for @kubernetes/client-node 1.4. Its generated API clients build a new
// https.Agent for every request (KubeConfig.applySecurityAuthentication), so every call pays a
// TLS handshake and a new SecureContext, the largest item in the operator's CPU profile
// (decision 0015 has the figures).
// This swaps that agent for a shared keep-alive agent with the same TLS options. Credentials are
// untouched: tokens travel in headers set per request; the agent is keyed by the TLS material,
// so a changed CA or client certificate gets a new agent. Watches (a separate code path) keep
// their own connections.
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

type Context = Parameters<KubeConfig['applySecurityAuthentication']>[0];

export interface KeepAliveOptions {
  /**
   * Most concurrent connections to the API server per agent. Must be at least the requests the
   * caller has in flight at once: a request that waits for a socket makes the client's HTTP layer
   * (node-fetch 2) fail the response it reuses that socket for with a false "Premature close".
   */
  maxSockets?: number;
}

/**
 * Makes the API clients created from `kc` reuse connections. Returns a function that closes the
 * idle connections (they never keep the process alive: Node unrefs free sockets).
 */
export function useKeepAlive(kc: KubeConfig, opts: KeepAliveOptions = {}): () => void {
  const original = kc.applySecurityAuthentication.bind(kc);
  const agents = new Map<string, https.Agent>();
  kc.applySecurityAuthentication = async (context: Context) => {
    await original(context);
    const agent = context.getAgent();
    // Proxy agents (http/https/socks proxy-url) and plain http are left as they are.
    if (!agent || agent.constructor !== https.Agent) return;
    const o = (agent as https.Agent).options;
    const key = createHash('sha256')
      .update(
        JSON.stringify(
          [o.ca, o.cert, o.key, o.pfx, o.rejectUnauthorized, o.servername].map(String),
        ),
      )
      .digest('hex');
    let shared = agents.get(key);
    if (!shared) {
      shared = new https.Agent({ ...o, keepAlive: true, maxSockets: opts.maxSockets ?? 16 });
      agents.set(key, shared);
    }
    context.setAgent(shared);
  };
  return () => {
    for (const a of agents.values()) a.destroy();
    agents.clear();
  };
}
