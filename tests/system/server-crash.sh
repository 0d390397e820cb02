#!/bin/sh
# kill -9 of reforge-server during an upload, at several points: after each
# restart the scan is pending (never half-complete) until the scanner's own
# resume finishes it, and the stored contents are exactly the files.
# Also: an fsync that fails (an LD_PRELOAD shim, the Nth fsync) fails that
# upload; the scan never becomes complete on what was not made durable.
. "$(dirname "$0")/lib.sh"
need curl cc
scratch

SRV="$top_builddir/reforge-server"
CLI="$top_builddir/reforge"
D="$T/data"

"$SRV" --data "$D" token create t >"$T/tok" || fail "token create"
mkdir -p "$T/root/srv"
# 12 MiB at 3 MiB/s: the upload lasts about 4 s
head -c 6291456 /dev/urandom >"$T/root/srv/a"
head -c 6291456 /dev/urandom >"$T/root/srv/b"
for i in 1 2 3 4 5 6 7 8; do echo "small $i" >"$T/root/srv/s$i"; done

start() {
	# under ASan the shim may come before its runtime: it needs none
	env ${SHIM:+SHIM_FAIL_FSYNC=$SHIM} ${SHIM:+LD_PRELOAD=$PRELOAD} \
		${SHIM:+ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0} \
		"$SRV" --data "$D" --listen "127.0.0.1:${PORT:-0}" \
		--port-file "$T/port" 2>>"$T/server.log" &
	SPID=$!
	wait_port "$T/port" "$T/server.log"
	PORT=$(cat "$T/port")
}
trap 'kill -9 $SPID 2>/dev/null; rm -rf "$T"' EXIT
start
URL="http://127.0.0.1:$PORT"
rcli() {
	"$CLI" --server "http://127.0.0.1:$PORT" --token-file "$T/tok" "$@"
}
state() {
	rcli --json scans | sed -n 's/.*"state": "\([a-z]*\)".*/\1/p' | tail -1
}

"$SCAN" -q -r "$T/root" --server "$URL" --token-file "$T/tok" --name crash \
	--limit-rate 3M --retry-time 60 >/dev/null 2>"$T/scan.err" &
CPID=$!
for at in 1 1.5 1; do
	sleep "$at"
	kill -9 $SPID
	wait $SPID 2>/dev/null
	s=$(state 2>/dev/null)
	rm -f "$T/port"
	start
	s=$(state)
	case "$s" in
	pending|complete|"") ;;
	*) fail "after kill -9 the scan is '$s'" ;;
	esac
done
wait $CPID || fail "the scanner did not finish: $(cat "$T/scan.err")"
[ "$(state)" = complete ] || fail "the scan is not complete after resume"
att=$(sed -n 's/.* in \([0-9]*\) attempts.*/\1/p' "$T/scan.err")
[ "${att:-0}" -ge 2 ] || fail "the upload was not interrupted: $(cat "$T/scan.err")"
rcli store check >"$T/check" || fail "store check: $(cat "$T/check")"
for f in a b s1 s8; do
	sha=$(sha256sum "$T/root/srv/$f" | cut -c1-64)
	cmp "$D/objects/$(echo "$sha" | cut -c1-2)/$(echo "$sha" | cut -c3-)" \
		"$T/root/srv/$f" || fail "stored srv/$f differs"
done
[ -z "$(ls "$D/uploads")" ] || fail "a spool was left: $(ls "$D/uploads")"
kill $SPID
wait $SPID 2>/dev/null

# --- fsync failures: the Nth fsync of the server fails with EIO -----------
cat >"$T/shim.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
static int count;
int fsync(int fd)
{
	static int (*real)(int);
	const char *n = getenv("SHIM_FAIL_FSYNC");
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (n && __atomic_add_fetch(&count, 1, __ATOMIC_SEQ_CST) == atoi(n)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}
EOF
cc -shared -fPIC -O1 -o "$T/shim.so" "$T/shim.c" -ldl || fail "cannot build the shim"
rm -rf "$T/root/srv/a" "$T/root/srv/b"
PRELOAD="$T/shim.so"
for n in 1 2 3 4 5 6 8 10 14; do
	rm -rf "$D" "$T/port"
	"$SRV" --data "$D" token create t >"$T/tok"
	PORT=0
	SHIM=$n
	start
	SHIM=
	"$SCAN" -q -r "$T/root" --server "http://127.0.0.1:$PORT" \
		--token-file "$T/tok" --name f --retry-time 3 >/dev/null 2>&1
	rc=$?
	s=$(state)
	if [ $rc = 0 ]; then
		[ "$s" = complete ] || fail "fsync $n: exit 0 but the scan is '$s'"
	else
		[ "$s" != complete ] || fail "fsync $n: failed, yet complete"
	fi
	# whatever happened, what is stored is sound
	rcli store check >"$T/check" || {
		grep -q "orphaned\|unrecorded" "$T/check" &&
			! grep -q "corrupt\|missing" "$T/check" ||
			fail "fsync $n: store check: $(cat "$T/check")"
	}
	kill $SPID
	wait $SPID 2>/dev/null
done
echo "server-crash: all checks passed"
