import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import { readKeyFile, watchKeyFile } from '../../src/runner/key-file.js';

describe('the key file (the key Secret as a volume)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'jfo-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the file, tells a missing file from an unreadable one, and never throws', async () => {
    const path = join(dir, 'ssh-privatekey');
    expect(await readKeyFile(path)).toEqual({ path });
    writeFileSync(path, 'KEY-1');
    expect(await readKeyFile(path)).toEqual({
      path,
      data: Buffer.from('KEY-1').toString('base64'),
    });
    const notAFile = join(dir, 'sub');
    mkdirSync(notAFile);
    const r = await readKeyFile(notAFile);
    expect(r.data).toBeUndefined();
    expect(r.error).toMatch(/EISDIR/);
  });

  it('reports a change when the kubelet swaps the ..data symlink to a new version', async () => {
    // The kubelet's layout: ssh-privatekey -> ..data/ssh-privatekey, ..data -> ..<timestamp>.
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'ssh-privatekey'), 'KEY-1');
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/ssh-privatekey', join(dir, 'ssh-privatekey'));
    const path = join(dir, 'ssh-privatekey');
    expect((await readKeyFile(path)).data).toBe(Buffer.from('KEY-1').toString('base64'));

    let changed!: () => void;
    const seen = new Promise<void>((r) => (changed = r));
    const stop = watchKeyFile(path, silentLogger(), () => changed());
    try {
      mkdirSync(join(dir, '..v2'));
      writeFileSync(join(dir, '..v2', 'ssh-privatekey'), 'KEY-2');
      symlinkSync('..v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      await seen;
    } finally {
      stop();
    }
    expect((await readKeyFile(path)).data).toBe(Buffer.from('KEY-2').toString('base64'));
  });

  it('does not fail when the directory is missing (the file is still read on every reconcile)', () => {
    const stop = watchKeyFile(join(dir, 'absent', 'ssh-privatekey'), silentLogger(), () => {});
    expect(typeof stop).toBe('function');
    stop();
  });
});
