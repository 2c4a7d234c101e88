// Development only (src/os/entries.ts startThread, when the TypeScript runs under tsx, as
// in the tests): registers tsx in this worker thread, then imports the module named by the last
// argv, taken off argv so the module sees the thread's own. Shipped threads run dist/ directly.
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';

register();
const entry = process.argv.pop();
if (!entry) throw new Error('tsx-thread: no module to run');
await import(pathToFileURL(entry).href);
