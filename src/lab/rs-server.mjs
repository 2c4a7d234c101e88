// A lab real server: HTTP on :80 (and :443 as plain HTTP) answering "<name>\n" for any path,
// "/1k" -> 1 KiB, "/big" -> 10 MiB of a deterministic pattern, "/stream/N" -> N MiB of it, and a UDP echo on :53 answering "<name>:<payload>".
// "POST /sum" reads the request body and answers "<name> <bytes> <sha256 hex>" (uploads through the director).
// Plain JS (no loader) so it starts fast inside a namespace. argv: name [port...]
import http from 'node:http';
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';

const name = process.argv[2] ?? 'test';
const ports = process.argv.slice(3).map(Number).filter((p) => p > 0);
const big = Buffer.alloc(10 * 1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 255;
const kib = Buffer.alloc(1024, 'x');
const handler = (req, res) => {
  if (req.method === 'POST' && req.url === '/sum') {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c) => { n += c.length; h.update(c); });
    req.on('end', () => res.end(`${name} ${n} ${h.digest('hex')}\n`));
    return;
  }
  if (req.url === '/1k') { res.end(kib); return; }
  if (req.url === '/big') { res.writeHead(200, { 'content-length': big.length }); res.end(big); return; }
  if (req.url.startsWith('/stream/')) {
    // /stream/N: N MiB of the same pattern as /big (period 256), written with backpressure.
    const mib = Math.min(1024, Math.max(1, Number(req.url.slice(8)) || 1));
    res.writeHead(200, { 'content-length': mib * 1048576 });
    const chunk = big.subarray(0, 1048576);
    let left = mib;
    const more = () => {
      while (left > 0) {
        left--;
        if (!res.write(chunk)) { res.once('drain', more); return; }
      }
      res.end();
    };
    more();
    return;
  }
  if (req.url === '/whoami') { res.end(`${name} ${req.socket.remoteAddress}\n`); return; }
  res.setHeader('content-type', 'text/plain');
  res.end(`${name}\n`);
};
// Long keep-alive (as nginx's 75 s): a failover stall must not look like an idle client.
for (const p of ports.length ? ports : [80, 443]) {
  const srv = http.createServer(handler);
  srv.keepAliveTimeout = 75_000;
  srv.listen(p, '0.0.0.0');
  // IPv6 beside it (the lab's IPv6 VIP); IPv4 clients keep their plain addresses on the first one.
  const srv6 = http.createServer(handler);
  srv6.keepAliveTimeout = 75_000;
  srv6.on('error', () => {});
  srv6.listen({ port: p, host: '::', ipv6Only: true });
}
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(Buffer.concat([Buffer.from(`${name}:`), m]), r.port, r.address));
u.bind(53, '0.0.0.0');
const u6 = dgram.createSocket({ type: 'udp6', ipv6Only: true });
u6.on('error', () => {});
u6.on('message', (m, r) => u6.send(Buffer.concat([Buffer.from(`${name}:`), m]), r.port, r.address));
u6.bind(53, '::');
process.on('SIGTERM', () => process.exit(0));
