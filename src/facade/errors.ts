// Errors the facade answers with, and the one error handler that turns every failure into
// JupyterHub's JSON shape `{"status": n, "message": "..."}`. A message reaches the client only
// when it was written for the client (HttpError, request validation); what a store or the
// runtime says is logged and replaced by a fixed text, so no internal detail leaks.
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage, type Logger } from '../log.js';

/** An error whose status and message are meant for the client. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string) => new HttpError(400, message);
export const forbidden = (message: string) => new HttpError(403, message);
export const notFound = (message: string) => new HttpError(404, message);
export const conflict = (message: string) => new HttpError(409, message);
export const unavailable = (message: string) => new HttpError(503, message);

/**
 * What went wrong in a store (Kubernetes API or in-memory) call: 'invalid' is the API's
 * validation of a value (its message names the field and the rule, and is shown), 'rejected' is
 * a request the API could not take at all (e.g. it could not decode it; never shown).
 */
export type StoreErrorKind = 'conflict' | 'notFound' | 'invalid' | 'rejected' | 'unavailable';

export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export const isStoreError = (err: unknown, kind?: StoreErrorKind): err is StoreError =>
  err instanceof StoreError && (kind === undefined || err.kind === kind);

/** The field messages of an API validation error, without the object's kind and name. */
function validationText(message: string): string {
  const at = message.indexOf(' is invalid: ');
  return at < 0 ? message : message.slice(at + ' is invalid: '.length);
}

/** Maps a store failure to what the client sees; conflicts only escape after the retries. */
export function storeErrorToHttp(err: StoreError): HttpError {
  switch (err.kind) {
    case 'invalid':
      return badRequest(`Bad Request: ${validationText(err.message)}`);
    case 'rejected':
      return badRequest('Bad Request: the Kubernetes API refused the request');
    case 'notFound':
      return notFound('Not found');
    case 'conflict':
      return unavailable('Too many concurrent changes, try again');
    case 'unavailable':
      return unavailable('Kubernetes API unavailable, try again');
  }
}

/** The answer to any thrown value. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof StoreError) return storeErrorToHttp(err);
  const fe = err as FastifyError;
  if (fe.validation) return badRequest(`Bad Request: ${fe.message}`);
  // Fastify's own 4xx (body too large, bad Content-Length, ...) describe the request; any other
  // 4xx keeps its status with the standard reason phrase.
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)
    return new HttpError(
      fe.statusCode,
      fe.code?.startsWith('FST_') ? fe.message : (STATUS_CODES[fe.statusCode] ?? 'Bad Request'),
    );
  return new HttpError(500, 'Internal Server Error');
}

/** The facade's one error handler: logs what the client does not see, answers JSON. */
export function errorHandler(log: Logger) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const e = toHttpError(err);
    if (e.statusCode >= 500 || isStoreError(err, 'rejected') || isStoreError(err, 'invalid'))
      log[e.statusCode >= 500 ? 'error' : 'warn']('Failed to answer a request', {
        method: req.method,
        url: req.routeOptions.url,
        status: e.statusCode,
        error: errorMessage(err),
      });
    void reply
      .code(e.statusCode)
      .type('application/json')
      .send({ status: e.statusCode, message: e.message });
  };
}
