#!/usr/bin/env bash
# Runs a command under Node 24 in .cache/node24-tree, a copy of this checkout with its own node_modules
# built for Node 24, so the Node-20 node_modules here is never touched (better-sqlite3 is native: one build
# per Node ABI). Node 24 itself is installed by `bash scripts/setup.sh --node24` into .cache/node24.
# Each run refreshes the copy from the work tree (tracked files and new untracked ones, as they are now;
# ignored ones left out), runs `npm ci` there when package-lock.json or the Node ABI changed (else just
# rebuilds dist/), then runs the command there with Node 24 first on PATH:
#   bash scripts/with-node24.sh node scripts/run-tests.mjs [filter…]    (what `npm run test:node24` does)
# Without a command it only prepares the copy (setup.sh --node24 does that).
set -euo pipefail
cd "$(dirname "$0")/.."
node24=$PWD/.cache/node24
tree=$PWD/.cache/node24-tree
if ! [ -x "$node24/bin/node" ]; then
  echo "with-node24: Node 24 is not installed here; run: bash scripts/setup.sh --node24" >&2
  exit 1
fi
export PATH="$node24/bin:$PATH"
# node-gyp builds better-sqlite3 against the headers the package ships, and never downloads any.
export npm_config_nodedir="$node24"
# Set by `npm run test:node24` to this checkout; the npm that runs in the copy must not inherit them.
unset npm_config_local_prefix npm_config_prefix npm_package_json

mkdir -p "$tree"
find "$tree" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi   # not files deleted but not yet committed
done | tar -c --null -T - -f - | tar -x -f - -C "$tree"

cd "$tree"
stamp="node_modules/.node24-stamp"
want="$(node -p process.versions.modules) $(sha256sum < package-lock.json)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
else
  npm run --silent build
fi
"$@"
