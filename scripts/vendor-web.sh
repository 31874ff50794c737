#!/usr/bin/env bash
# vendor-web.sh: fetch the console's and the API reference's third-party
# files from npm at pinned versions into web/vendor/<name>/, with their
# licences, and record every file's sha256 in web/vendor/SHA256SUMS.
#
# The vendored files are committed: the server embeds them (go:embed) and
# runs with no network and no build step. Run this script only to change a
# version (edit the list below), then commit web/vendor/ and check the
# pages with the browser tests (go test ./web/...).
#
#   scripts/vendor-web.sh           fetch and write web/vendor/
#   scripts/vendor-web.sh --check   verify web/vendor/ against SHA256SUMS
#
# npm pack checks each tarball against the integrity the registry
# publishes; the tarball's own sha256 is recorded in SHA256SUMS too.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$repo/web/vendor"

if [ "${1:-}" = "--check" ]; then
	cd "$vendor"
	grep -v '\.tgz$' SHA256SUMS | sha256sum --check --quiet
	echo "web/vendor matches SHA256SUMS"
	exit 0
fi

# package@version  directory  files to copy (paths inside the package)
packages=(
	"uplot@1.6.32 uplot dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE"
	"swagger-ui-dist@5.36.0 swagger-ui swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE"
)

command -v npm >/dev/null || { echo "vendor-web.sh: npm is needed (apt install npm)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

sums="$tmp/SHA256SUMS"
: >"$sums"
for entry in "${packages[@]}"; do
	read -r spec dir files <<<"$entry"
	echo "==> $spec"
	mkdir -p "$tmp/$dir"
	tarball="$(cd "$tmp/$dir" && npm pack --silent "$spec")"
	(cd "$tmp/$dir" && sha256sum "$tarball") | sed "s|  |  $dir/|" >>"$sums"
	tar -xzf "$tmp/$dir/$tarball" -C "$tmp/$dir"
	rm -rf "${vendor:?}/$dir"
	mkdir -p "$vendor/$dir"
	for f in $files; do
		cp "$tmp/$dir/package/$f" "$vendor/$dir/$(basename "$f")"
	done
	echo "$spec" >"$vendor/$dir/VERSION"
	(cd "$vendor" && for f in $files VERSION; do sha256sum "$dir/$(basename "$f")"; done) >>"$sums"
done
cp "$sums" "$vendor/SHA256SUMS"
echo "wrote $vendor and its SHA256SUMS"
