#!/usr/bin/env node
// Entry of the `tsvsadm` command (ipvsadm-compatible): runs the compiled client in dist/.
import { runCompiled } from './run-compiled.mjs';

await runCompiled('cli/tsvsadm.js');
