// Static tokens for callers that are not JupyterHub users: the hub's spawner, Outposts, jump-node
// automation. Read from a file (a mounted Secret, see decision 0030) of entries
//
//   <name>:
//     token: <the token>            # or tokenSha256: <hex SHA-256 of the token>
//     scopes: [servers, access:servers, custom:servers:list]
//
// Tokens are looked up by their SHA-256, so neither the lookup time nor a heap dump reveals
// more than a hash. Parsing is pure; StaticTokenFile reloads the file when it changes.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { parse } from 'yaml';
import type { Clock } from '../clock.js';
import { errorMessage, type Logger } from '../log.js';
import { expandScopes } from './scopes.js';

export interface StaticIdentity {
  name: string;
  scopes: ReadonlySet<string>;
}

export type StaticTokenTable = ReadonlyMap<string, StaticIdentity>;

export const MIN_TOKEN_LENGTH = 16;

export const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

function entryHash(name: string, entry: Record<string, unknown>): string {
  const { token, tokenSha256 } = entry;
  if (typeof token === 'string' && tokenSha256 === undefined) {
    if (token.length < MIN_TOKEN_LENGTH)
      throw new Error(
        `static token "${name}": token must be at least ${MIN_TOKEN_LENGTH} characters`,
      );
    return sha256(token);
  }
  if (typeof tokenSha256 === 'string' && token === undefined) {
    if (!/^[0-9a-f]{64}$/i.test(tokenSha256))
      throw new Error(`static token "${name}": tokenSha256 must be 64 hex digits`);
    return tokenSha256.toLowerCase();
  }
  throw new Error(`static token "${name}": give exactly one of token and tokenSha256`);
}

/** Parses the file content; throws an Error naming the bad entry. */
export function parseStaticTokens(text: string): StaticTokenTable {
  const doc: unknown = parse(text);
  if (doc === null || doc === undefined) return new Map();
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new Error('static tokens: expected a mapping of name to {token, scopes}');
  const table = new Map<string, StaticIdentity>();
  for (const [name, raw] of Object.entries(doc as Record<string, unknown>)) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw new Error(`static token "${name}": expected {token, scopes}`);
    const entry = raw as Record<string, unknown>;
    const unknown = Object.keys(entry).filter(
      (k) => !['token', 'tokenSha256', 'scopes'].includes(k),
    );
    if (unknown.length)
      throw new Error(`static token "${name}": unknown field ${unknown.join(', ')}`);
    const scopes = entry.scopes;
    if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string' || !s))
      throw new Error(`static token "${name}": scopes must be a list of scope strings`);
    const hash = entryHash(name, entry);
    if (table.has(hash)) throw new Error(`static token "${name}": the same token is listed twice`);
    table.set(hash, { name, scopes: expandScopes(scopes as string[]) });
  }
  return table;
}

/** The static tokens of a file, re-read when its modification time or size changes. */
export class StaticTokenFile {
  private table: StaticTokenTable = new Map();
  private signature = '';
  private timer: unknown;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  lookup(token: string): StaticIdentity | undefined {
    return this.table.get(sha256(token));
  }

  /** Loads the file; throws on the first load if it is missing or invalid. */
  async start(reloadMs: number): Promise<void> {
    await this.reload();
    this.timer = this.clock.setInterval(() => {
      this.reload().catch((err) =>
        this.log.error('Failed to reload static tokens; keeping the previous ones', {
          path: this.path,
          error: errorMessage(err),
        }),
      );
    }, reloadMs);
  }

  async reload(): Promise<boolean> {
    const st = await stat(this.path);
    const signature = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (signature === this.signature) return false;
    this.table = parseStaticTokens(await readFile(this.path, 'utf8'));
    this.signature = signature;
    this.log.info('Loaded static tokens', { path: this.path, count: this.table.size });
    return true;
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearInterval(this.timer);
  }
}
