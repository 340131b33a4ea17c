#!/usr/bin/env node
// Thin launcher: the implementation is compiled TypeScript under dist/ (built by `npm install`).
import '../dist/src/cli/kv-cli.js';
