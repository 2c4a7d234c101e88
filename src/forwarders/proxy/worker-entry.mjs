// Entry of a relay worker process (cluster worker): registers the TypeScript loader, runs worker.ts.
import { register } from 'tsx/esm/api';
register();
await import('./worker.ts');
