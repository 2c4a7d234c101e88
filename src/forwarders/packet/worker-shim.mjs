// Worker entry: registers the tsx loader inside the worker thread, then runs worker.ts.
import { register } from 'tsx/esm/api';
register();
await import('./worker.ts');
