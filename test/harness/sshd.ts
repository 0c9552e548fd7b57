// The tests' sshd is the one the benchmarks use (src/dev/sshd.ts).
export { freePort, startSshd, type Sshd, type SshdOptions } from '../../src/dev/sshd.js';
