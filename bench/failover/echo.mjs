// UDP echo for a keepalived-only director: answers "<name>:<payload>" on 0.0.0.0:PORT. argv: name port
import dgram from 'node:dgram';
const [name, port] = process.argv.slice(2);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(Buffer.concat([Buffer.from(`${name}:`), m]), r.port, r.address));
u.bind(Number(port), '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
