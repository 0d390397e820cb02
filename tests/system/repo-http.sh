#!/bin/sh
# A Debian repository over HTTP (python3's http.server on 127.0.0.1, a
# random port, bounded in time): a second refresh asks with
# If-Modified-Since and downloads nothing; a change is fetched; a server
# gone leaves the index in place.
. "$top_srcdir/tests/system/repo-fixtures.sh"
need dpkg-deb apt-ftparchive xz python3 timeout
scratch

R=$T/www/debian
mkdeb "$R/pool/main" hello 1.0-1 amd64
mkdeb "$R/pool/main" world 2.0 all
deb_repo "$R"

pid=
stop() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=
}
start() {
	for _try in 1 2 3 4 5; do
		port=$(python3 -c 'import random; print(random.randint(20000, 60000))')
		timeout 300 python3 -m http.server --bind 127.0.0.1 \
			--directory "$T/www" "$port" >"$T/http.log" 2>&1 &
		pid=$!
		for _i in $(seq 50); do
			if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" 2>/dev/null; then
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		stop
	done
	fail "could not start python3 -m http.server"
}
trap 'stop; rm -rf "$T"' EXIT
start

rt add h --kind deb --url "http://127.0.0.1:$port/debian" --suite test ||
	fail "add"
rt --json refresh h >"$T/out" 2>"$T/err" || fail "refresh: $(cat "$T/err")"
field() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0][sys.argv[2]])' "$T/out" "$1"
}
[ "$(field packages)" = 2 ] || fail "2 packages expected: $(cat "$T/out")"
[ "$(field fetched)" -ge 2 ] || fail "nothing fetched: $(cat "$T/out")"
[ "$(field downloaded)" -gt 0 ] || fail "no bytes: $(cat "$T/out")"

# Second refresh: conditional requests, answered 304; nothing re-indexed.
rt --json refresh h >"$T/out" || fail "refresh 2"
[ "$(field fetched)" = 0 ] || fail "fetched again: $(cat "$T/out")"
[ "$(field not_modified)" -ge 1 ] || fail "no 304: $(cat "$T/out")"
[ "$(field unchanged)" = True ] || fail "re-indexed: $(cat "$T/out")"
grep -q '"GET /debian/dists/test/InRelease' "$T/http.log" ||
	fail "InRelease not tried"
grep -q ' 304 ' "$T/http.log" || fail "the server answered no 304"

# A change: only what changed is downloaded (Last-Modified moves on; the
# server's clock has one-second steps, so the new files are dated ahead).
mkdeb "$R/pool/main" extra 3 amd64
deb_repo "$R"
future=$(($(date +%s) + 5))
touch -d "@$future" "$R/dists/test/Release" "$R"/dists/test/main/binary-amd64/*
rt --json refresh h >"$T/out" 2>"$T/err" || fail "refresh 3: $(cat "$T/err")"
[ "$(field packages)" = 3 ] || fail "3 packages expected: $(cat "$T/out")"
[ "$(field fetched)" -ge 2 ] || fail "changes not fetched: $(cat "$T/out")"

p=$(rt fetch h extra) || fail "fetch over http"
cmp -s "$p" "$R/pool/main/extra_3_amd64.deb" || fail "fetched copy differs"

# A missing package file: a clear error naming the URL.
rm "$R/pool/main/world_2.0_all.deb"
rt fetch h world 2>"$T/err" && fail "fetch of a missing file succeeded"
grep -q "lacks" "$T/err" || fail "missing file: $(cat "$T/err")"

# The server gone: clear error, the index of 3 stays.
stop
rt --force refresh h 2>"$T/err" >/dev/null && fail "refresh without a server"
grep -q "cannot fetch" "$T/err" || fail "unreachable: $(cat "$T/err")"
[ "$(count h)" = 3 ] || fail "unreachable: the index changed"
echo "repo-http: all checks passed"
