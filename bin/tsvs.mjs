#!/usr/bin/env node
// Thin entry: registers the TypeScript loader (tsx) and runs the CLI. No build step needed.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/tsvs.ts');
process.exitCode = await main(process.argv.slice(2));
