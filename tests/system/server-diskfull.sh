#!/bin/sh
# RELIABILITY 10: reforge-server's data directory on a small filesystem (a
# tmpfs of 6 MiB mounted in this test's own mount namespace) is filled to
# ENOSPC by repeated uploads. The upload that meets the full disk fails
# clearly (507, and why) and its scan is not complete; after freeing
# space (a ballast file removed, the other scans deleted), the first scan
# reads back intact, reforge store check passes and a new upload completes.
. "$(dirname "$0")/lib.sh"
if [ "$1" != inner ]; then
	need unshare mount umount curl
	unshare --mount --propagation private true 2>/dev/null ||
		skip "cannot make a mount namespace (not root?)"
	exec unshare --mount --propagation private sh "$0" inner
fi
scratch

SRV="$top_builddir/reforge-server"
CLI="$top_builddir/reforge"
mkdir "$T/small"
mount -t tmpfs -o size=6m,mode=0700 reforge-test "$T/small" ||
	skip "cannot mount a tmpfs"
D="$T/small/data"
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; umount "$T/small"; rm -rf "$T"' EXIT

# ballast, removed to free space once the disk is full (deleting a scan
# needs room too: SQLite writes its WAL first)
head -c 1048576 /dev/zero >"$T/small/ballast"
"$SRV" --data "$D" token create t >"$T/tok" || fail "token create"
"$SRV" --data "$D" --listen 127.0.0.1:0 --port-file "$T/port" \
	2>"$T/server.log" &
SPID=$!
wait_port "$T/port" "$T/server.log"
URL="http://127.0.0.1:$(cat "$T/port")"
rcli() { "$CLI" --server "$URL" --token-file "$T/tok" "$@"; }
scan() { # ROOT NAME
	"$SCAN" -q -r "$1" --server "$URL" --token-file "$T/tok" --name "$2" \
		--retry-time 3 >/dev/null 2>"$T/scan.err"
}
state() { # ID
	rcli --json scan show "$1" 2>/dev/null |
		sed -n 's/.*"state": "\([a-z]*\)".*/\1/p'
}

# the first scan: small, kept through it all
mkdir -p "$T/first/etc"
for i in 1 2 3 4; do head -c 20000 /dev/urandom >"$T/first/etc/f$i"; done
scan "$T/first" first || fail "the first scan: $(cat "$T/scan.err")"
[ "$(state 1)" = complete ] || fail "the first scan is not complete"

# fill it: 1.5 MiB of new contents per scan until the disk is full
full=
for n in 1 2 3 4 5 6 7 8; do
	mkdir -p "$T/r$n/srv"
	for i in 1 2 3; do head -c 524288 /dev/urandom >"$T/r$n/srv/x$i"; done
	if ! scan "$T/r$n" "filler$n"; then
		full=$n
		break
	fi
	rm -rf "$T/r$n"
done
[ -n "$full" ] || fail "8 uploads of 1.5 MiB fitted in 6 MiB"
echo "upload $full met the full disk: $(tail -1 "$T/scan.err")"
# the scanner gives up with the server's reason, not only "retries ran out"
grep -q "No space left" "$T/scan.err" ||
	fail "the scanner lost the server's reason: $(cat "$T/scan.err")"
last=$(rcli --json scans | sed -n 's/.*"id": \([0-9]*\).*/\1/p' | tail -1)
[ "$last" -gt "$full" ] || fail "the upload that met the full disk made no scan"
[ "$(state "$last")" != complete ] ||
	fail "the upload that met the full disk made a complete scan"
# what the server answers to more of it: 507 and why (zeros are a tar's
# end, so the verifier has nothing to refuse and the spool's write fails)
A="Authorization: Bearer $(cat "$T/tok")"
off=$(curl -s -H "$A" "$URL/api/v1/scans/$last/overlay" |
	sed -n 's/.*"offset": *\([0-9]*\).*/\1/p')
head -c 2097152 /dev/zero >"$T/zeros"
code=$(curl -s -o "$T/answer" -w '%{http_code}' -X PATCH -H "$A" \
	-H "Upload-Offset: ${off:-0}" --data-binary @"$T/zeros" \
	"$URL/api/v1/scans/$last/overlay")
[ "$code" = 507 ] && grep -q "No space left" "$T/answer" ||
	fail "more overlay on a full disk answered $code: $(cat "$T/answer")"
echo "the server answers: $code $(cat "$T/answer")"
[ "$(state 1)" = complete ] || fail "the first scan is '$(state 1)' on a full disk"
kill -0 $SPID || fail "the server died of the full disk"

# free the space: the ballast, then every scan but the first goes
rm "$T/small/ballast"
for id in $(rcli --json scans | sed -n 's/.*"id": \([0-9]*\).*/\1/p'); do
	[ "$id" = 1 ] || rcli scan delete "$id" >/dev/null ||
		fail "cannot delete scan $id after the disk was full"
done
[ "$(state 1)" = complete ] || fail "the first scan is '$(state 1)' after freeing"
for i in 1 2 3 4; do
	sha=$(sha256sum "$T/first/etc/f$i" | cut -c1-64)
	cmp -s "$D/objects/$(echo "$sha" | cut -c1-2)/$(echo "$sha" | cut -c3-)" \
		"$T/first/etc/f$i" || fail "the first scan's etc/f$i is gone or differs"
done
rcli store check >"$T/check" 2>&1 || fail "store check: $(cat "$T/check")"
echo "after freeing: $(cat "$T/check")"
[ -z "$(ls "$D/tmp")" ] || fail "partial files left in tmp/: $(ls "$D/tmp")"
# and the server takes uploads again
scan "$T/r$full" again || fail "no upload after freeing: $(cat "$T/scan.err")"
echo "server-diskfull: all checks passed"
