#!/bin/sh
# Benchmark of the repository index: index a full Debian main Packages file
# (the one this machine's apt lists hold, about 60,000 packages), then
# reconcile a 1,000-package scan against it. Goals: indexing under 5 s,
# reconciliation under 100 ms.
#
# usage: bench/repo-index.sh [BUILDDIR]   (default: the current directory)
# Needs `apt-get update` to have run; reads /var/lib/apt/lists, never a
# mirror's name.
set -eu
builddir=$(cd "${1:-.}" && pwd)
tool="$builddir/server/reforge-repo-tool"
if [ ! -x "$tool" ]; then
	make -C "$builddir" -s server/reforge-repo-tool
fi
list=$(ls /var/lib/apt/lists/*_main_binary-amd64_Packages* 2>/dev/null |
	grep -v -e security -e updates | head -n 1 || true)
if [ -z "$list" ]; then
	echo "no main Packages list in /var/lib/apt/lists: run apt-get update" >&2
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/rf-bench-repo.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A flat file:// repository holding that Packages file, compressed with xz
# as mirrors serve it, with a Release made by apt-ftparchive when present.
mkdir -p "$work/mirror"
/usr/lib/apt/apt-helper cat-file "$list" >"$work/mirror/Packages"
xz -T1 -1 -k "$work/mirror/Packages"
echo "source: $list"
echo "Packages: $(wc -c <"$work/mirror/Packages") bytes," \
	"$(grep -c '^Package:' "$work/mirror/Packages") stanzas;" \
	"Packages.xz: $(wc -c <"$work/mirror/Packages.xz") bytes"
rm "$work/mirror/Packages"
# Release lists the checksum of Packages.xz, which the refresh verifies
if command -v apt-ftparchive >/dev/null; then
	(cd "$work/mirror" && apt-ftparchive release .) >"$work/Release"
	mv "$work/Release" "$work/mirror/Release"
fi

rt() {
	"$tool" --db "$work/repo.db" --cache "$work/cache" "$@"
}
rt add main --kind deb --url "file://$work/mirror" --suite ./ --arch amd64
echo "== index (first refresh: download, verify, decompress, parse, insert)"
rt --time refresh main
echo "== index again (same metadata: kept)"
rt --time refresh main
echo "== re-index (new metadata, same size: replaces every row)"
rt --time --force refresh main

# A 1,000-package scan: the packages installed here (dpkg-query), topped up
# with packages of the index itself; each line as the scanner reports dpkg.
dpkg-query -W -f '${Package} - ${Version} - ${Architecture}\n' |
	head -n 1000 >"$work/scan"
n=$(wc -l <"$work/scan")
if [ "$n" -lt 1000 ]; then
	xz -dc "$work/mirror/Packages.xz" | awk -v want=$((1000 - n)) '
		/^Package:/ { p = $2 } /^Version:/ { v = $2 }
		/^Architecture:/ { a = $2 }
		/^$/ && p != "" { print p, "-", v, "-", a; p = ""; if (++k >= want) exit }
	' >>"$work/scan"
fi
echo "== reconcile a scan of $(wc -l <"$work/scan") packages"
rt --time reconcile "$work/scan" | tail -n 2
