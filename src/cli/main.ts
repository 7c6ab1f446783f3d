#!/usr/bin/env node
// The `segrec` command: dispatches to subcommands.
console.error('segrec: no commands yet');
process.exit(2);
