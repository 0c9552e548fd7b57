// The library floor for bench/runner-bench.mjs: the smallest ssh2 forwarder (one connection,
// forwardOut per accepted socket, stream pipes, TCP_NODELAY like the runner), with none of the
// runner's watches, status, probes, metrics or write batching. Not for use: errors only close
// the affected sockets.
// Usage: node naive-forwarder.cjs HOST PORT KEYFILE CIPHER LISTEN_PORT:TARGET_HOST:TARGET_PORT...
'use strict';
const net = require('node:net');
const { readFileSync } = require('node:fs');
const { Client } = require('ssh2');

const [host, port, keyFile, cipher, ...forwards] = process.argv.slice(2);
process.on('SIGTERM', () => process.exit(0)); // exit normally, so --cpu-prof writes its profile
const conn = new Client();
const sock = net.connect({ host, port: Number(port) }, () => sock.setNoDelay(true));
conn.on('error', (err) => {
  process.stderr.write(`ssh: ${err.message}\n`);
  process.exit(1);
});
conn.on('ready', () => {
  for (const f of forwards) {
    const [listenPort, targetHost, targetPort] = f.split(':');
    net
      .createServer((client) => {
        client.setNoDelay(true);
        client.on('error', () => client.destroy());
        conn.forwardOut('127.0.0.1', 0, targetHost, Number(targetPort), (err, ch) => {
          if (err) return client.destroy();
          ch.on('error', () => client.destroy());
          ch.on('close', () => client.destroy());
          client.on('close', () => ch.close());
          client.pipe(ch).pipe(client);
        });
      })
      .listen(Number(listenPort), '127.0.0.1');
  }
  process.stdout.write('ready\n');
});
conn.connect({
  sock,
  username: 'root',
  privateKey: readFileSync(keyFile),
  algorithms: { cipher: [cipher] },
});
