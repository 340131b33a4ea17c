#!/usr/bin/env node
// Thin launcher: the implementation is compiled TypeScript under dist/ (shipped in the package;
// built by `npm install` in a checkout).
import '../dist/src/cli/kv-server.js';
