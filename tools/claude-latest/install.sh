#!/bin/sh
# The newest published Claude Code CLI for the drift tests, installed from npm beside the
# pinned one (root package.json), as tools/nodes does for Node binaries. Its version is pinned
# in package.json + package-lock.json here, so a run is reproducible; to move it to the newest
# release: tools/claude-latest/install.sh --update (then commit both files).
set -eu
cd "$(dirname "$0")"
if [ "${1:-}" = "--update" ]; then
  npm install --no-audit --no-fund --loglevel=error --save-exact --save-dev "@anthropic-ai/claude-code@$(npm view @anthropic-ai/claude-code version)"
else
  npm ci --no-audit --no-fund --loglevel=error
fi
node -e 'console.log("tools/claude-latest: @anthropic-ai/claude-code " + require("./node_modules/@anthropic-ai/claude-code/package.json").version)'
