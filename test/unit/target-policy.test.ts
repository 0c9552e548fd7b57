import type { JumpNode } from '../../src/api/types.js';
import { BlockList } from 'node:net';
import { EnvReader } from '../../src/config/env.js';
import {
  addressBytes,
  DEFAULT_DIRECT_POLICY,
  directTargetProblem,
  parseCidr,
  readDirectTargetPolicy,
  tunnelTargetProblem,
} from '../../src/resources/target-policy.js';
import { nameCollisions } from '../../src/resources/jumpnode-names.js';

function node(spec: Partial<JumpNode['spec']> = {}): JumpNode {
  return {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'JumpNode',
    metadata: { name: 'hpc', namespace: 'hub' },
    spec: {
      host: 'login.hpc.example.org',
      username: 'u',
      privateKeySecretRef: { name: 'k' },
      ...spec,
    },
  };
}
const at = (host: string, port = 8888) => ({ host, port });

describe('tunnelTargetProblem', () => {
  it.each([
    ['127.0.0.1', 22, /loopback/],
    ['127.1.2.3', 8888, /loopback/],
    ['::1', 8888, /loopback/],
    ['169.254.169.254', 80, /link-local/],
    ['fe80::1', 80, /link-local/],
    ['0.0.0.0', 80, /unspecified/],
    ['224.0.0.1', 80, /multicast/],
    ['::ffff:127.0.0.1', 22, /IPv4-mapped/],
    ['localhost', 22, /localhost/],
    ['LOCALHOST.', 22, /localhost/],
    ['foo.localhost', 22, /localhost/],
    ['login.hpc.example.org', 22, /own address/],
  ])('refuses %s:%d by default', (host, port, why) => {
    expect(tunnelTargetProblem(at(host, port), node())).toMatch(why);
  });

  it("refuses the jump node's own IP address, however it is written", () => {
    expect(tunnelTargetProblem(at('192.0.2.10', 22), node({ host: '192.0.2.10' }))).toMatch(
      /own address/,
    );
    const v6 = node({ host: '2001:db8::10' });
    expect(tunnelTargetProblem(at('2001:DB8:0:0::0010', 22), v6)).toMatch(/own address/);
    const allowOwn = node({
      host: '2001:db8::10',
      targetPolicy: { allowedCIDRs: ['2001:db8::10/128'] },
    });
    expect(tunnelTargetProblem(at('2001:db8:0::10', 22), allowOwn)).toBeUndefined();
  });

  it('allows compute nodes by name or address by default', () => {
    expect(tunnelTargetProblem(at('node042.hpc.example.org', 43127), node())).toBeUndefined();
    expect(tunnelTargetProblem(at('10.20.30.40', 43127), node())).toBeUndefined();
  });

  it('allows loopback only through an entry wholly inside the loopback range', () => {
    const narrow = node({ targetPolicy: { allowedCIDRs: ['127.0.0.1/32'] } });
    expect(tunnelTargetProblem(at('127.0.0.1'), narrow)).toBeUndefined();
    expect(tunnelTargetProblem(at('127.0.0.2'), narrow)).toMatch(/loopback/);
    const everything = node({ targetPolicy: { allowedCIDRs: ['0.0.0.0/0'] } });
    expect(tunnelTargetProblem(at('127.0.0.1'), everything)).toMatch(/loopback/);
    expect(tunnelTargetProblem(at('10.1.2.3'), everything)).toBeUndefined();
  });

  it('keeps IP targets inside allowedCIDRs and refuses names then', () => {
    const p = node({ targetPolicy: { allowedCIDRs: ['10.20.0.0/16', '2001:db8::/32'] } });
    expect(tunnelTargetProblem(at('10.20.30.40'), p)).toBeUndefined();
    expect(tunnelTargetProblem(at('2001:db8::5'), p)).toBeUndefined();
    expect(tunnelTargetProblem(at('10.21.0.1'), p)).toMatch(
      /not in spec.targetPolicy.allowedCIDRs/,
    );
    expect(tunnelTargetProblem(at('node1.example.org'), p)).toMatch(/only IP targets/);
  });

  it('keeps ports inside allowedPorts', () => {
    const p = node({ targetPolicy: { allowedPorts: [{ start: 8000, end: 8999 }] } });
    expect(tunnelTargetProblem(at('10.0.0.1', 8888), p)).toBeUndefined();
    expect(tunnelTargetProblem(at('10.0.0.1', 22), p)).toMatch(/port 22 is not in/);
  });
});

describe('addressBytes', () => {
  it.each([
    ['10.1.2.3', [10, 1, 2, 3]],
    ['::', new Array(16).fill(0)],
    ['::1', [...new Array(15).fill(0), 1]],
    ['2001:db8::ff:1', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 1]],
    ['fe80::1%eth0', [0xfe, 0x80, ...new Array(13).fill(0), 1]],
    ['::ffff:192.0.2.1', [...new Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 1]],
    ['1:2:3:4:5:6:7:8', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
  ])('parses %s', (text, bytes) => {
    expect([...addressBytes(text)!]).toEqual(bytes);
  });

  it('gives nothing for a host name', () => {
    expect(addressBytes('node1.example.org')).toBeUndefined();
    expect(addressBytes('10.1.2')).toBeUndefined();
  });
});

describe('range checks agree with node:net BlockList', () => {
  // A seeded generator: the same cases every run.
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const v4 = () => Array.from({ length: 4 }, () => rand(256)).join('.');
  const v6 = () =>
    Array.from({ length: 8 }, () => (rand(4) ? 0 : rand(0x10000)).toString(16)).join(':');

  it('for 2000 random IPv4 and IPv6 addresses and ranges around them', () => {
    const answers = { inside: 0, outside: 0 };
    for (let i = 0; i < 2000; i++) {
      const six = i % 2 === 1;
      const network = six ? v6() : v4();
      const prefix = rand(six ? 129 : 33);
      // Half the addresses differ from the network in the last group only, so both answers occur.
      const host = rand(2) ? (six ? v6() : v4()) : network.replace(/[0-9a-f]+$/, String(rand(10)));
      const list = new BlockList();
      list.addSubnet(network, prefix, six ? 'ipv6' : 'ipv4');
      const inside = list.check(host, six ? 'ipv6' : 'ipv4');
      answers[inside ? 'inside' : 'outside']++;
      const policy = { clusterCidrs: [`${network}/${prefix}`], allowedCidrs: [] };
      expect([host, network, prefix, !!directTargetProblem(at(host), policy)]).toEqual([
        host,
        network,
        prefix,
        inside,
      ]);
    }
    expect(answers.inside).toBeGreaterThan(200);
    expect(answers.outside).toBeGreaterThan(200);
  });
});

describe('directTargetProblem', () => {
  it('refuses the cluster Service and Pod ranges and cluster DNS names by default', () => {
    expect(directTargetProblem(at('10.96.0.1', 443), DEFAULT_DIRECT_POLICY)).toMatch(
      /cluster range 10.96.0.0\/12/,
    );
    expect(directTargetProblem(at('10.244.1.7'), DEFAULT_DIRECT_POLICY)).toMatch(/cluster range/);
    for (const h of ['kubernetes', 'kubernetes.default.svc', 'hub.jhub.svc.cluster.local'])
      expect(directTargetProblem(at(h, 443), DEFAULT_DIRECT_POLICY)).toMatch(/DNS domain/);
    expect(directTargetProblem(at('10.20.30.40'), DEFAULT_DIRECT_POLICY)).toBeUndefined();
    expect(directTargetProblem(at('notebook.example.org'), DEFAULT_DIRECT_POLICY)).toBeUndefined();
  });

  it('reads its settings and, with an allow list, keeps IP targets inside it', () => {
    const r = new EnvReader({
      JFO_CLUSTER_CIDRS: '10.0.0.0/8, fd00::/8',
      JFO_DIRECT_ALLOWED_CIDRS: '192.0.2.0/24',
    });
    const p = readDirectTargetPolicy(r);
    expect(r.problems).toEqual([]);
    expect(directTargetProblem(at('10.20.30.40'), p)).toMatch(/cluster range/);
    expect(directTargetProblem(at('192.0.2.7'), p)).toBeUndefined();
    expect(directTargetProblem(at('198.51.100.1'), p)).toMatch(/JFO_DIRECT_ALLOWED_CIDRS/);
    const bad = new EnvReader({ JFO_CLUSTER_CIDRS: '10.0.0.0/33,x' });
    readDirectTargetPolicy(bad);
    expect(bad.problems[0]).toMatch(/JFO_CLUSTER_CIDRS must be a comma-separated list of CIDRs/);
  });

  it('parses CIDRs strictly', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ network: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('10.0.0.0')).toBeUndefined();
    expect(parseCidr('::/129')).toBeUndefined();
  });
});

describe('nameCollisions', () => {
  const jn = (name: string, aliases: string[] = [], namespace = 'hub'): JumpNode => ({
    ...node({ aliases }),
    metadata: { name, namespace },
  });

  it("finds a name that is another JumpNode's alias, and shared aliases, in one namespace", () => {
    const real = jn('hpc-login', ['hpc', 'login']);
    const impostor = jn('hpc');
    const other = jn('gpu', ['login']);
    const elsewhere = jn('hpc', [], 'other-ns');
    const all = [real, impostor, other, elsewhere];
    expect(nameCollisions(real, all)).toEqual([
      '"hpc" also designates JumpNode hpc',
      '"login" also designates JumpNode gpu',
    ]);
    expect(nameCollisions(impostor, all)).toEqual(['"hpc" also designates JumpNode hpc-login']);
    expect(nameCollisions(jn('solo', ['s']), all)).toEqual([]);
  });
});
