#!/usr/bin/env node
// Thin entry: registers the TypeScript loader (tsx) and runs the ipvsadm-compatible client.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/tsvsadm.ts');
process.exitCode = await main(process.argv.slice(2));
