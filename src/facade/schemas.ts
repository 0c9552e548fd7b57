// JSON schemas of the facade's requests and responses: fastify validates requests with them and
// @fastify/swagger turns them into the OpenAPI document at /openapi.json. Validation does not
// coerce types (a string "false" is not a boolean); query values are digit strings.
import { MAX_HTML_MESSAGE, MAX_MESSAGE } from './event-ingest.js';

const name = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^/]+$' } as const;

export const userParams = {
  type: 'object',
  required: ['user'],
  properties: {
    user: { ...name, description: 'JupyterHub user name (percent-encoded).', examples: ['alice'] },
  },
} as const;

export const serverParams = {
  type: 'object',
  required: ['user', 'server'],
  properties: {
    user: userParams.properties.user,
    server: { ...name, description: 'Name of the named server.', examples: ['x'] },
  },
} as const;

export const nodeParams = {
  type: 'object',
  required: ['node'],
  properties: {
    node: {
      type: 'string',
      minLength: 1,
      maxLength: 253,
      description: 'JumpNode name or alias',
      examples: ['hpc'],
    },
  },
} as const;

const startIdQuery = {
  type: 'string',
  maxLength: 64,
  description: 'The start attempt this call belongs to; another value than the current is a 409.',
} as const;

export const startIdQuerystring = {
  type: 'object',
  properties: { start_id: startIdQuery },
} as const;

export const eventBody = {
  type: 'object',
  description:
    'A progress event (JupyterHub spawn-page format). Other keys are accepted and not stored.',
  examples: [
    {
      failed: false,
      progress: 50,
      html_message:
        '<details><summary>Server is still starting up</summary>The last status was: PENDING</details>',
    },
  ],
  properties: {
    progress: { type: ['number', 'null'], minimum: 0, maximum: 100 },
    message: { type: ['string', 'null'], maxLength: MAX_MESSAGE },
    html_message: { type: ['string', 'null'], maxLength: MAX_HTML_MESSAGE },
    failed: { type: ['boolean', 'null'], description: 'true cancels the start.' },
    start_id: startIdQuery,
  },
} as const;

export const setupTunnelBody = {
  type: 'object',
  description:
    'Only service, ssh_node and start_id are accepted; keys, users and ssh options are refused.',
  examples: [{ service: 'http://node042.hpc.example.org:43127', ssh_node: 'hpc' }],
  properties: {
    service: { type: 'string', minLength: 1, maxLength: 300, description: '[http(s)://]host:port' },
    ssh_node: {
      type: 'string',
      minLength: 1,
      maxLength: 253,
      description: 'JumpNode name or alias',
    },
    start_id: startIdQuery,
  },
} as const;

const hostPort = {
  type: 'object',
  required: ['host', 'port'],
  additionalProperties: false,
  properties: {
    host: { type: 'string', minLength: 1, maxLength: 253 },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
  },
} as const;

export const putServerBody = {
  type: 'object',
  required: ['userId', 'startId'],
  additionalProperties: false,
  examples: [{ userId: 3, startId: '0f4c2d7e9b0a4a5c8d6e1f2a3b4c5d6e', jumpNode: 'hpc' }],
  properties: {
    userId: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    startId: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
    },
    target: hostPort,
    jumpNode: {
      type: 'string',
      minLength: 1,
      maxLength: 253,
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]*$',
    },
    servicePort: { type: 'integer', minimum: 1, maximum: 65535 },
    labels: {
      type: 'object',
      maxProperties: 32,
      additionalProperties: { type: 'string', maxLength: 63 },
    },
    remoteForward: {
      type: 'object',
      required: ['bindPort', 'target'],
      additionalProperties: false,
      properties: {
        bindAddress: { type: 'string', maxLength: 253, pattern: '^[A-Za-z0-9.:_-]*$' },
        bindPort: { type: 'integer', minimum: 1, maximum: 65535 },
        target: hostPort,
      },
    },
  },
} as const;

export const patchServerBody = {
  type: 'object',
  required: ['startId', 'target'],
  additionalProperties: false,
  description:
    'Sets spec.target (and spec.jumpNodeRef when given and unset) only if the server has no ' +
    'target yet; a server that has one, or is stopping, is answered unchanged.',
  examples: [
    {
      startId: '0f4c2d7e9b0a4a5c8d6e1f2a3b4c5d6e',
      target: { host: 'node042.hpc.example.org', port: 43127 },
      jumpNode: 'hpc',
    },
  ],
  properties: {
    startId: putServerBody.properties.startId,
    target: hostPort,
    jumpNode: putServerBody.properties.jumpNode,
  },
} as const;

export const waitQuerystring = {
  type: 'object',
  properties: {
    after: { type: 'string', pattern: '^[0-9]{1,9}$', description: 'Wait for more than n events.' },
    wait: { type: 'string', pattern: '^[0-9]{1,2}$', description: 'Seconds to wait, at most 60.' },
  },
} as const;

export const errorResponse = {
  type: 'object',
  required: ['status', 'message'],
  properties: { status: { type: 'integer' }, message: { type: 'string' } },
} as const;

const event = {
  type: 'object',
  additionalProperties: true,
  properties: {
    progress: { type: 'integer' },
    message: { type: 'string' },
    html_message: { type: 'string' },
    failed: { type: 'boolean' },
  },
} as const;

export const eventsResponse = {
  type: 'object',
  required: ['events', 'active', 'ready'],
  properties: {
    events: { type: 'array', items: event },
    active: { type: 'boolean' },
    ready: { type: 'boolean' },
  },
} as const;

export const serverResponse = {
  type: 'object',
  required: [
    'name',
    'namespace',
    'user',
    'userId',
    'serverName',
    'startId',
    'phase',
    'url',
    'ready',
    'active',
    'conditions',
    'events',
    'eventsDropped',
    'terminalEvent',
  ],
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    user: { type: 'string' },
    userId: { type: 'integer' },
    serverName: { type: 'string' },
    startId: { type: 'string' },
    phase: { type: ['string', 'null'] },
    url: { type: ['string', 'null'] },
    ready: { type: 'boolean' },
    active: { type: 'boolean' },
    cancelRequested: { type: 'boolean' },
    conditions: { type: 'array', items: { type: 'object', additionalProperties: true } },
    events: { type: 'array', items: event },
    eventsDropped: { type: 'integer' },
    terminalEvent: { anyOf: [event, { type: 'null' }] },
  },
} as const;

export const empty = (description: string) => ({ type: 'null', description }) as const;

/** Responses every authenticated route can give besides its own. */
export const errorResponses = {
  400: errorResponse,
  403: errorResponse,
  404: errorResponse,
  409: errorResponse,
  413: errorResponse,
  503: errorResponse,
} as const;
