import {
  blobType,
  fingerprint,
  hostKeyAlgorithms,
  parseHostKeys,
  verifyHostKey,
} from '../../src/runner/hostkeys.js';

// Generated with ssh-keygen; fingerprints as printed by `ssh-keygen -lf`.
const ED25519 =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKWjN7XNNBlcA0MVvVN5NKHcysiKQ343T5InyjMBSoNb test';
const ECDSA =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGwMkUswM8P940imNTAxUNyRRLpQvgagco5MKCEGLnKF310kw/lkHpDsykZsF3vG4n2Halnih810eEG85h2VcaI= test';
const RSA =
  'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCVCpP+5pEEho1KzK5YjmHX22Gwpqq3yf98hJ6Ai5Ekru47EhShDpsPagmmlfITkkZxpMjirMO/VpSlVMVUU8dkpmE2PVkcbssMewT3mbTrNnCf8CN9cE5WbUh5Wa5nAlgg6Zlg1OnIxSBdlpy194/SxIn7EkX9xsTCWMVm8omfILU5Cp8j0Kw14tY/sjL0UCojPQiMkxYBlkc2zkrHhse/P+I4YxyLTd/SReOlERAlEsPsv0Qc7eYmdk6rNP/WpV/EJCB3lYqzbPJYZeCIy+foWz9A8ohHIGiaFonmOCai+CL/+xMQ6NfMOtFauu/myIuB+U1eg3qfO7Bcebd/ojad test';

const blob = (line: string) => Buffer.from(line.split(' ')[1]!, 'base64');

describe('parseHostKeys', () => {
  it.each([
    [ED25519, 'ssh-ed25519', 'SHA256:Db6OABWY+otHhQ2UDdsbx+6EyY8kxhyc0j4RQm1a0v8'],
    [ECDSA, 'ecdsa-sha2-nistp256', 'SHA256:TYXzvk01OikUBtqRMjgaqRVu3x2aAzngZW74UZALQhc'],
    [RSA, 'ssh-rsa', 'SHA256:liVrqGfnafa4CWwpVT5nApMR/SNwtZr1BGgYZ/8htyI'],
  ])('parses %#: type and the fingerprint ssh-keygen prints', (line, type, fp) => {
    const { keys, errors } = parseHostKeys([line]);
    expect(errors).toEqual([]);
    expect(keys).toHaveLength(1);
    expect(keys[0]!.type).toBe(type);
    expect(keys[0]!.fingerprint).toBe(fp);
    expect(fingerprint(blob(line))).toBe(fp);
  });

  it.each([
    ['garbage', 'hostKeys[0] is not an OpenSSH public key line'],
    ['ssh-ed25519 AAAA', 'hostKeys[0] is not an OpenSSH public key line'],
    [`ssh-rsa ${ED25519.split(' ')[1]}`, 'hostKeys[0] says ssh-rsa but holds a ssh-ed25519 key'],
  ])('reports a bad line: %s', (line, error) => {
    const { keys, errors } = parseHostKeys([ED25519, line].reverse());
    expect(keys).toHaveLength(1);
    expect(errors).toEqual([error]);
  });
});

describe('hostKeyAlgorithms', () => {
  it.each([
    [[ED25519], ['ssh-ed25519']],
    [
      [ECDSA, ED25519],
      ['ecdsa-sha2-nistp256', 'ssh-ed25519'],
    ],
    // SHA-1 ssh-rsa signatures are never offered for a pinned RSA key.
    [[RSA], ['rsa-sha2-512', 'rsa-sha2-256']],
    [[ED25519, ED25519], ['ssh-ed25519']],
  ])('offers only the pinned key types %#', (lines, algos) => {
    expect(hostKeyAlgorithms(parseHostKeys(lines).keys)).toEqual(algos);
  });
});

describe('verifyHostKey', () => {
  const keys = parseHostKeys([ED25519, RSA]).keys;

  it('accepts a pinned key', () => {
    expect(verifyHostKey(keys, blob(RSA), 'jump:22')).toEqual({
      ok: true,
      fingerprint: 'SHA256:liVrqGfnafa4CWwpVT5nApMR/SNwtZr1BGgYZ/8htyI',
    });
  });

  it('refuses any other key and says which one it saw and which are pinned', () => {
    const verdict = verifyHostKey(keys, blob(ECDSA), 'jump:22');
    expect(verdict.ok).toBe(false);
    const message = (verdict as { message: string }).message;
    expect(message).toContain('jump:22 presented ecdsa-sha2-nistp256 key SHA256:TYXzvk01');
    expect(message).toContain('ssh-ed25519 SHA256:Db6OABWY');
    expect(message).toContain('ssh-rsa SHA256:liVrqGfn');
  });

  it('refuses everything when nothing is pinned', () => {
    expect(verifyHostKey([], blob(ED25519), 'jump:22').ok).toBe(false);
  });
});

describe('blobType', () => {
  it.each([
    [Buffer.alloc(0), undefined],
    [Buffer.from([0, 0, 0, 200, 1]), undefined],
    [blob(ED25519), 'ssh-ed25519'],
  ])('reads the type of blob %#', (b, type) => expect(blobType(b)).toBe(type));
});
