#!/bin/sh
# Benchmark: reforge-scan of a real root against `dpkg --verify` on the same
# root, in the same run, warm cache. dpkg --verify checks only package files
# (MD5); reforge-scan reads every file (SHA-256, and the package digest
# besides for package files), writes the full report and the changes list.
# Prints both times, their ratio (goal: below 1) and the scan's peak memory
# (goal: under 200 MB for 400,000 files), and the CPU time of each (user +
# sys): on a machine shared with other work the elapsed times vary, the
# CPU seconds much less. Not a test: nothing is asserted.
#   bench/scan-vs-dpkg-verify.sh [ROOT] [RUNS]
set -eu
root=${1:-/}
runs=${2:-3}
top=$(cd "$(dirname "$0")/.." && pwd)
scan=${REFORGE_SCAN:-$top/_build/reforge-scan}
[ -x "$scan" ] || { echo "build reforge-scan first (tools/check or tools/demo)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package 'time')" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

now() { date +%s.%N; }
best() { sort -n | head -1; }

echo "root: $root  cpus: $(nproc)  runs: $runs (best of)"
# warm the page cache for both
dpkg --root="$root" --verify >/dev/null 2>&1 || true
"$scan" -q --root "$root" >/dev/null 2>&1 || true

: >"$out/dpkg" ; : >"$out/scan"
for i in $(seq "$runs"); do
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$out/dcpu.$i" \
		dpkg --root="$root" --verify >/dev/null 2>&1 || true
	t1=$(now)
	echo "$t1 - $t0" | bc >>"$out/dpkg"
	t0=$(now)
	/usr/bin/time -f '%M %U %S' -o "$out/rss.$i" "$scan" -q --root "$root" \
		--report "$out/report.xml" --changes="$out/changes" \
		--json >"$out/json" 2>/dev/null || true
	t1=$(now)
	echo "$t1 - $t0" | bc >>"$out/scan"
done
d=$(best <"$out/dpkg")
s=$(best <"$out/scan")
rss=$(awk '{print $1}' "$out"/rss.* | sort -n | tail -1)
scpu=$(awk '{printf "%.2f\n", $2 + $3}' "$out"/rss.* | sort -n | head -1)
dcpu=$(awk '{printf "%.2f\n", $1 + $2}' "$out"/dcpu.* | sort -n | head -1)
files=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(c["files"] for c in d["classes"].values()))' "$out/json")
bytes=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(c["bytes"] for c in d["classes"].values()))' "$out/json")
printf 'dpkg --verify:  %6.2f s\n' "$d"
printf 'reforge-scan:   %6.2f s  (%s files, %s bytes read, report %s bytes)\n' \
	"$s" "$files" "$bytes" "$(stat -c %s "$out/report.xml")"
printf 'ratio scan/dpkg: %.2f (goal < 1)\n' "$(echo "$s / $d" | bc -l)"
printf 'scan peak RSS:  %d MB for %s files (goal < 200 MB for 400000)\n' \
	"$((rss / 1024))" "$files"
printf 'CPU user+sys:   scan %s s (%.2f s a core on %d), dpkg --verify %s s\n' \
	"$scpu" "$(echo "$scpu / $(nproc)" | bc -l)" "$(nproc)" "$dcpu"
