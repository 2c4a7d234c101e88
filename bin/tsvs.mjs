#!/usr/bin/env node
// Entry of the `tsvs` command: runs the compiled CLI in dist/ (`npm run build` makes it).
import { runCompiled } from './run-compiled.mjs';

await runCompiled('cli/tsvs.js');
