// The runner's private key, read from the file the key Secret's volume holds (the runner has no
// right to read Secrets through the API). The file is read again on every reconcile, which runs
// when the directory changes (the kubelet swaps a symlink when the Secret changes) and when the
// SSH session goes down, so a reconnect uses the current key.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage, type Logger } from '../log.js';

/** What the data plane gets: the file's path and its content (base64), if it could be read. */
export interface PrivateKeyFile {
  path: string;
  /** Base64 of the file's bytes; absent when the file does not exist or cannot be read. */
  data?: string;
  /** Why the file could not be read (other than not existing). */
  error?: string;
}

/** Reads the key file; never throws. */
export async function readKeyFile(path: string): Promise<PrivateKeyFile> {
  try {
    return { path, data: (await readFile(path)).toString('base64') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path };
    return { path, error: errorMessage(err) };
  }
}

/** Calls `changed` when anything in the key file's directory changes; returns a closer. */
export function watchKeyFile(path: string, log: Logger, changed: () => void): () => void {
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), { persistent: false }, () => changed());
    watcher.on('error', (err) =>
      log.warn('Watching the key file failed', { path, error: errorMessage(err) }),
    );
  } catch (err) {
    // No directory (volume missing): the file is still read on every reconcile.
    log.warn('Cannot watch the key file', { path, error: errorMessage(err) });
  }
  return () => watcher?.close();
}
