#!/bin/sh
# RELIABILITY 9: the server's Nth write to a file (write, pwrite) or its
# Nth rename fails with EIO or ENOSPC (an LD_PRELOAD shim, fault-shim.c),
# for every N over a small upload. Whatever N: the scanner fails (saying
# why) or the scan is complete, never a complete scan on what failed to be
# written; the scan made before is intact; after a restart the scanner's
# next run completes and the store check passes. Four faults run at once,
# each with its own server and data directory: most of the time goes to
# the scanner's pause before it retries.
. "$(dirname "$0")/lib.sh"
need cc
scratch

SRV="$top_builddir/reforge-server"
CLI="$top_builddir/reforge"
cc -shared -fPIC -O1 -o "$T/shim.so" "$top_srcdir/tests/system/fault-shim.c" \
	-ldl || fail "cannot build the shim"

# A work directory W holds one server's data, port file, logs.
start() { # W [SHIM_OP N ERRNO]
	_w=$1
	shift
	rm -f "$_w/port"
	env ${1:+LD_PRELOAD=$T/shim.so SHIM_OP=$1 SHIM_N=$2 SHIM_ERRNO=$3} \
		${1:+SHIM_ARM=/port SHIM_COUNT=$_w/count} \
		${1:+ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0} \
		"$SRV" --data "$_w/data" --listen 127.0.0.1:0 --port-file "$_w/port" \
		2>>"$_w/server.log" &
	SPID=$!
	wait_port "$_w/port" "$_w/server.log"
	URL="http://127.0.0.1:$(cat "$_w/port")"
}
stop() { # W
	kill $SPID
	wait $SPID || fail "the server did not stop cleanly: $(tail -3 "$1/server.log")"
}
rcli() { "$CLI" --server "$URL" --token-file "$T/tok" "$@"; }
scan() { # W ROOT NAME
	"$SCAN" -q -r "$2" --server "$URL" --token-file "$T/tok" --name "$3" \
		--retry-time 5 >/dev/null 2>>"$1/scan.err"
}
state() { # ID
	rcli --json scan show "$1" 2>/dev/null |
		sed -n 's/.*"state": "\([a-z]*\)".*/\1/p'
}

# the earlier scan, made without faults, kept as a template
mkdir -p "$T/one/etc" "$T/two/srv/d" "$T/tpl"
for i in 1 2 3; do head -c 3000 /dev/urandom >"$T/one/etc/f$i"; done
head -c 5000 /dev/urandom >"$T/two/srv/d/g1"
head -c 20000 /dev/urandom >"$T/two/srv/d/g2"
echo "small" >"$T/two/srv/s"
"$SRV" --data "$T/tpl/data" token create t >"$T/tok" || fail "token create"
trap 'kill -9 $SPID 2>/dev/null; rm -rf "$T"' EXIT
start "$T/tpl"
scan "$T/tpl" "$T/one" one || fail "the first scan: $(cat "$T/tpl/scan.err")"
[ "$(state 1)" = complete ] || fail "the first scan is not complete"
stop "$T/tpl"

intact() { # W WHAT
	[ "$(state 1)" = complete ] || fail "$2: the earlier scan is '$(state 1)'"
	for f in f1 f2 f3; do
		sha=$(sha256sum "$T/one/etc/$f" | cut -c1-64)
		cmp -s "$1/data/objects/$(echo "$sha" | cut -c1-2)/$(echo "$sha" | cut -c3-)" \
			"$T/one/etc/$f" || fail "$2: the earlier scan's etc/$f is gone or differs"
	done
}

fresh() { # W
	rm -rf "$1"
	mkdir -p "$1"
	cp -a "$T/tpl/data" "$1/data"
}

# how many writes and renames a clean second upload makes
fresh "$T/c"
start "$T/c" write 0 EIO
scan "$T/c" "$T/two" two || fail "the clean second scan: $(cat "$T/c/scan.err")"
stop "$T/c"
read -r NW NR <"$T/c/count"
[ "${NW:-0}" -gt 0 ] && [ "${NR:-0}" -gt 0 ] ||
	fail "the shim saw no writes or renames ($NW, $NR)"
echo "a clean upload makes $NW writes and $NR renames"

one_fault() { # W OP N ERRNO
	_w=$1 what="$2 $3 ($4)"
	trap 'kill -9 $SPID 2>/dev/null' EXIT
	fresh "$_w"
	start "$_w" "$2" "$3" "$4"
	if scan "$_w" "$T/two" two; then
		[ "$(state 2)" = complete ] ||
			fail "$what: the scanner succeeded, the scan is '$(state 2)'"
	else
		[ "$(state 2)" != complete ] ||
			fail "$what: the scanner failed, yet the scan is complete"
		# one fault, then none: resuming must be able to finish it
		grep -q "did not finish" "$_w/scan.err" &&
			fail "$what: the upload cannot be resumed: $(tail -1 "$_w/scan.err")"
		grep -qi "error\|cannot\|fail\|refused\|50[0-9]" "$_w/scan.err" ||
			fail "$what: the scanner failed without saying why"
	fi
	intact "$_w" "$what"
	stop "$_w"
	start "$_w"
	scan "$_w" "$T/two" two ||
		fail "$what: after a restart: $(tail -2 "$_w/scan.err")"
	last=$(rcli --json scans | sed -n 's/.*"id": \([0-9]*\).*/\1/p' | tail -1)
	[ "$(state "$last")" = complete ] || fail "$what: scan $last is '$(state "$last")'"
	intact "$_w" "$what, after a restart"
	rcli store check >"$_w/check" 2>&1 || fail "$what: store check: $(cat "$_w/check")"
	stop "$_w"
}

jobs=
runs=0
failed=0
wait_jobs() {
	for j in $jobs; do
		wait "$j" || failed=$((failed + 1))
	done
	jobs=
}
for op in write rename; do
	[ $op = write ] && total=$NW || total=$NR
	n=1
	while [ $n -le "$total" ]; do
		# both errnos, alternately
		e=EIO
		[ $((n % 2)) = 0 ] && e=ENOSPC
		(one_fault "$T/w$((runs % 4))" $op $n $e) &
		jobs="$jobs $!"
		runs=$((runs + 1))
		[ $((runs % 4)) = 0 ] && wait_jobs
		n=$((n + 1))
	done
done
wait_jobs
[ $failed = 0 ] || fail "$failed of $runs faults broke an expectation (above)"
echo "server-faults: $runs faults, all checks passed"
