import { createServer, type Server } from 'node:http';

export const summary = 'demo helpers: `tsvs demo backends ADDR:PORT=NAME...` runs HTTP real servers answering their names';

const HELP = `usage: tsvs demo backends ADDR:PORT=NAME [ADDR:PORT=NAME ...]

Runs one small HTTP server per argument; each answers every request with its NAME and a newline
(POST bodies are echoed back). Runs until SIGTERM/SIGINT. Used by scripts/demo.sh and the tests.
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'backends' || rest.length === 0) {
    (sub === '-h' || sub === '--help' ? process.stdout : process.stderr).write(HELP);
    return sub === '-h' || sub === '--help' ? 0 : 2;
  }
  const servers: Server[] = [];
  for (const spec of rest) {
    const m = /^(.*):(\d+)=(.+)$/.exec(spec);
    if (!m) {
      process.stderr.write(`tsvs demo: bad backend '${spec}' (want ADDR:PORT=NAME)\n`);
      return 2;
    }
    const host = m[1]!.replace(/^\[|\]$/g, ''), port = Number(m[2]), name = m[3]!;
    const s = createServer((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.pipe(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'x-real-server': name });
      res.end(`${name}\n`);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => resolve());
      });
    } catch (e) {
      process.stderr.write(`tsvs demo: cannot listen on ${host}:${port}: ${(e as Error).message}\n`);
      for (const x of servers) x.close();
      return 1;
    }
    servers.push(s);
  }
  process.stdout.write(`real servers up: ${rest.join(' ')}\n`);
  return new Promise((resolve) => {
    const stop = (): void => {
      for (const s of servers) { s.closeAllConnections(); s.close(); }
      resolve(0);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
