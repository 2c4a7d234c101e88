// Entry of a relay worker (a thread of the daemon, or a cluster worker process): registers the
// TypeScript loader, runs worker.ts.
import { register } from 'tsx/esm/api';
register();
await import('./worker.ts');
