#!/bin/sh
# The hand-written shell entrypoint claude-entry replaces, as people write it: make the dir,
# write ~/.claude.json (clobbering it: no merge), and exec the command (with gosu to drop
# root, in the gosu row). A bench row: what users would pick instead.
set -eu
mkdir -p "$HOME/.claude"
chmod 700 "$HOME/.claude"
printf '{"hasCompletedOnboarding": true}\n' > "$HOME/.claude.json"
chmod 600 "$HOME/.claude.json"
exec "$@"
