#!/usr/bin/env bash
# scripts/check-generate.sh fails when `go generate ./...` (gqlgen, through the
# directive in graph/resolver.go) would change any file, and prints the diff.
#
# It regenerates in a scratch copy of the working tree and compares it with a
# second, untouched copy taken at the same moment, never touching the tree
# itself: the check must not rewrite files someone is editing, its verdict must
# not depend on what git considers modified already, and edits made while it
# runs must not show up as differences.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
GO=${GO:-go}
EXCLUDES=(.git .pgdata .tmp bin node_modules)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/rapport-generate.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

tar_excludes=()
for e in "${EXCLUDES[@]}"; do
	tar_excludes+=(--exclude="./$e" --exclude="*/$e")
done

mkdir "$scratch/before" "$scratch/after"
(cd "$ROOT" && tar -c "${tar_excludes[@]}" .) | (cd "$scratch/before" && tar -x)
cp -a "$scratch/before/." "$scratch/after/"
echo "go generate ./... (in a scratch copy)" >&2
(cd "$scratch/after" && "$GO" generate ./...)

if ! (cd "$scratch" && diff -r -u -N before after >"$scratch/diff" 2>&1); then
	{
		echo "generated code is stale: run 'make generate' and commit the result."
		echo "What regenerating changes (first 400 lines):"
		sed -n '1,400p' "$scratch/diff"
	} >&2
	exit 1
fi
echo "generated code is current" >&2
