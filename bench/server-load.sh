#!/bin/sh
# reforge-server under load, on loopback: N scanners at once (default 50),
# each sending its own generated root of F files (default 20,000), twice.
# Prints scans per minute, bytes sent per scan and the server's peak memory
# for each round; the second round (same roots) must send under 1% of the
# first round's bytes.
#
#   bench/server-load.sh [BUILDDIR] [SCANNERS] [FILES]
set -eu
B=${1:-.}
N=${2:-50}
F=${3:-20000}
SRV="$B/reforge-server"
SCAN="$B/reforge-scan"
[ -x "$SRV" ] && [ -x "$SCAN" ] || { echo "build reforge-server and reforge-scan in $B first" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/reforge-bench.XXXXXX")
trap 'kill $SPID 2>/dev/null || true; rm -rf "$T"' EXIT

echo "generating $N roots of $F files..." >&2
python3 - "$T/roots" "$N" "$F" <<'PY'
import os, sys
top, n, f = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for r in range(n):
    root = os.path.join(top, str(r))
    for i in range(f):
        d = os.path.join(root, "srv", "d%03d" % (i % 200))
        os.makedirs(d, exist_ok=True)
        # distinct content per root and file; sizes from 64 B to ~8 KiB
        size = 64 + (i * 7919 + r * 104729) % 8192
        seed = ("%d/%d/" % (r, i)).encode()
        with open(os.path.join(d, "f%05d" % i), "wb") as out:
            out.write((seed * (size // len(seed) + 1))[:size])
PY
"$SRV" --data "$T/data" token create bench >"$T/tok"
"$SRV" --data "$T/data" \
	--listen 127.0.0.1:0 --port-file "$T/port" --connections 512 \
	--per-ip 256 2>"$T/server.log" &
SPID=$!
while [ ! -s "$T/port" ]; do sleep 0.1; done
URL="http://127.0.0.1:$(cat "$T/port")"

round() {
	start=$(date +%s.%N)
	pids=
	for r in $(seq 0 $((N - 1))); do
		"$SCAN" -q -j 1 -r "$T/roots/$r" --server "$URL" \
			--token-file "$T/tok" --name "m$r" \
			>/dev/null 2>"$T/scan.$1.$r" &
		pids="$pids $!"
	done
	fails=0
	for p in $pids; do
		wait "$p" || fails=$((fails + 1))
	done
	end=$(date +%s.%N)
	bytes=$(cat "$T"/scan.$1.* | sed -n 's/.*report \([0-9]*\) bytes.*overlay \([0-9]*\) bytes.*/\1 \2/p' |
		awk '{s += $1 + $2} END {printf "%.0f\n", s}')
	secs=$(echo "$end - $start" | bc -l)
	printf 'round %s: %d scans in %.1f s = %.1f scans/min, %d bytes sent per scan, %d failed\n' \
		"$1" "$N" "$secs" "$(echo "$N * 60 / $secs" | bc -l)" \
		$((bytes / N)) "$fails"
	eval "bytes_$1=$bytes"
	# every scanner must succeed: a busy store is no excuse
	if [ "$fails" -gt 0 ]; then
		grep -h 'reforge-scan:' "$T"/scan.$1.* | grep -v 'sent to' |
			sort | uniq -c | sed 's/^/  /' >&2
		failed=1
	fi
}
failed=0
round 1
round 2
peak=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SPID/status")
kill -INT $SPID
wait $SPID || true
echo "server peak memory: $((peak / 1024)) MiB"
pct=$(echo "100 * $bytes_2 / $bytes_1" | bc -l)
printf 'second round sent %.3f%% of the first round'"'"'s bytes\n' "$pct"
[ "$(echo "$pct < 1" | bc)" = 1 ] || { echo "FAIL: over 1%" >&2; exit 1; }
[ "$failed" = 0 ] || { echo "FAIL: some scanners failed (above)" >&2; exit 1; }
