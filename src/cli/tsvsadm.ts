/**
 * `tsvsadm`: ipvsadm 1.31's command line as a thin client of the tsvs daemon's control API.
 * Sends argv (and stdin for -R/--restore) to the daemon, prints what the daemon's ipvsadm
 * printed, and exits with its exit code. With no daemon it fails the way ipvsadm fails on a
 * kernel without IPVS (exit 2), after a line naming the socket path it tried.
 */
import { runClient } from '../daemon/client.ts';
import { defaultSocketPath } from '../daemon/paths.ts';

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function writeAll(stream: NodeJS.WriteStream, s: string): Promise<void> {
  return new Promise((resolve) => {
    if (stream.write(s)) resolve();
    else stream.once('drain', () => resolve());
  });
}

export async function main(argv: string[]): Promise<number> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runClient(argv, defaultSocketPath(), {
    stdout: (s) => out.push(s),
    stderr: (s) => err.push(s),
    stdin: readStdin,
  });
  await writeAll(process.stdout, out.join(''));
  await writeAll(process.stderr, err.join(''));
  return code;
}
