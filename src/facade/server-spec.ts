// The ForwardedServer the spawner asks for with PUT /api/forwardedservers/{user}[/{server}]
// (contract 0001 E). Pure builder.
import {
  API_VERSION,
  type ForwardedServer,
  type ForwardedServerSpec,
  type HostPort,
} from '../api/types.js';
import { serverLabels, serverResourceName } from '../names.js';

/** The PUT body (validated against its JSON schema before it gets here). */
export interface PutServerBody {
  userId: number;
  startId: string;
  target?: HostPort;
  /** A JumpNode name or alias; resolved to a name before building. */
  jumpNode?: string;
  servicePort?: number;
  labels?: Record<string, string>;
  remoteForward?: { bindAddress?: string; bindPort: number; target: HostPort };
}

export interface ServerIdentity {
  namespace: string;
  user: string;
  server: string;
}

export function buildForwardedServer(
  id: ServerIdentity,
  body: PutServerBody,
  jumpNodeName: string | undefined,
): ForwardedServer {
  const name = serverResourceName(id.user, id.server);
  const spec: ForwardedServerSpec = {
    user: { name: id.user, id: body.userId },
    serverName: id.server,
    startId: body.startId,
    cancelRequested: false,
  };
  if (body.target) spec.target = { host: body.target.host, port: body.target.port };
  if (jumpNodeName) spec.jumpNodeRef = { name: jumpNodeName };
  if (body.servicePort !== undefined || body.labels) {
    spec.service = {};
    if (body.servicePort !== undefined) spec.service.port = body.servicePort;
    if (body.labels) spec.service.labels = { ...body.labels };
  }
  if (body.remoteForward) {
    const rf = body.remoteForward;
    spec.remoteForward = { bindPort: rf.bindPort, target: { ...rf.target } };
    if (rf.bindAddress !== undefined) spec.remoteForward.bindAddress = rf.bindAddress;
  }
  return {
    apiVersion: API_VERSION,
    kind: 'ForwardedServer',
    metadata: {
      name,
      namespace: id.namespace,
      labels: serverLabels(id.user, id.server, name),
    },
    spec,
  };
}
