// The SSH algorithms the runner offers to a jump node, in order of preference. Every one of them
// is exercised against OpenSSH's sshd by test/integration/runner-algorithms.test.ts, including
// the data path (ssh2 patched as in patches/). Host key algorithms follow the pinned keys
// (hostkeys.ts). Pure.
import type ssh2 from 'ssh2';

export const KEX: ssh2.KexAlgorithm[] = [
  'curve25519-sha256@libssh.org',
  'curve25519-sha256',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group-exchange-sha256',
  'diffie-hellman-group14-sha256',
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
];

/** AES-GCM first: with AES-NI it is the cheapest per byte (one pass, no separate MAC). */
export const CIPHERS: ssh2.CipherAlgorithm[] = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
];

/** Used with the -ctr ciphers only (the AEAD ciphers authenticate themselves). */
export const MACS: ssh2.MacAlgorithm[] = [
  'hmac-sha2-256-etm@openssh.com',
  'hmac-sha2-512-etm@openssh.com',
  'hmac-sha1-etm@openssh.com',
  'hmac-sha2-256',
  'hmac-sha2-512',
  'hmac-sha1',
];
