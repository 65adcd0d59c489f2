#!/usr/bin/env node
// The floor for claude-entry's job, written by hand with nothing else: what the simplest
// correct Node entrypoint does for an OAuth token (mkdir ~/.claude, merge ~/.claude.json,
// run the command and pass its exit code on). No checks, no user switch, no hardening. A
// bench row, so the shim is measured beside what the job itself costs, every time.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const home = process.env.HOME;
fs.mkdirSync(path.join(home, '.claude'), { recursive: true, mode: 0o700 });
const file = path.join(home, '.claude.json');
let config = {};
try {
  config = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch {}
config.hasCompletedOnboarding = true;
fs.writeFileSync(file, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
const argv = process.argv.slice(process.argv.indexOf('--') + 1);
const child = require('node:child_process').spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(signal ? 128 + require('node:os').constants.signals[signal] : code));
