// Errors the facade answers with. Every error reaches the client as JupyterHub's JSON shape
// `{"status": n, "message": "..."}` through the one error handler in app.ts.

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

/** What went wrong in a store (Kubernetes API or in-memory) call. */
export type StoreErrorKind = 'conflict' | 'notFound' | 'invalid' | 'unavailable';

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

/** Maps a store failure to what the client sees; conflicts only escape after the retries. */
export function storeErrorToHttp(err: StoreError): HttpError {
  switch (err.kind) {
    case 'invalid':
      return badRequest(err.message);
    case 'notFound':
      return notFound(err.message);
    case 'conflict':
      return new HttpError(503, `Too many concurrent changes, try again: ${err.message}`);
    case 'unavailable':
      return unavailable(`Kubernetes API unavailable: ${err.message}`);
  }
}
