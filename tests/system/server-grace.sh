#!/bin/sh
# --min-rate-grace: how long a body may be slow before --min-rate applies
# is a setting (command line and settings file), not a fixed 30 s. A
# server whose settings file says min-rate = 100000 and min-rate-grace = 2
# cuts a report body that trickles a byte every 0.5 s long before its 40
# bytes are in; one with a grace of 3600 s lets the same body finish (and
# answers it). The option is in --help and refuses a bad value.
. "$(dirname "$0")/lib.sh"
need python3
scratch

SRV="$top_builddir/reforge-server"
D="$T/data"
"$SRV" --help | grep -q -- "--min-rate-grace S" || fail "--help has no --min-rate-grace"
"$SRV" --data "$D" --min-rate-grace soon --help >/dev/null 2>"$T/err"
[ $? = 2 ] || fail "a bad --min-rate-grace was accepted"
grep -q "min-rate-grace" "$T/err" || fail "bad --min-rate-grace: $(cat "$T/err")"
"$SRV" --data "$D" token create t >"$T/tok" || fail "token create"

trap 'kill $PID_short $PID_long 2>/dev/null; wait; rm -rf "$T"' EXIT
printf 'min-rate = 100000\nmin-rate-grace = 2\n' >"$T/short.conf"
start_server short --config "$T/short.conf"
start_server long --min-rate 100000 --min-rate-grace 3600

# trickle PORT: a 40-byte report body, a byte every 0.5 s; prints "cut"
# when the server closes the connection before the body is in, else the
# status line of its answer
trickle() {
	python3 - "$1" "$(cat "$T/tok")" <<'PY'
import socket, sys, time
port, tok = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(("POST /api/v1/scans?name=slow HTTP/1.1\r\nHost: t\r\n"
           "Authorization: Bearer %s\r\nContent-Length: 40\r\n"
           "Connection: close\r\n\r\n" % tok).encode())
try:
    for i in range(40):
        time.sleep(0.5)
        s.sendall(b"x")
except OSError:
    print("cut")
    sys.exit(0)
try:
    data = s.recv(4096)
except OSError:
    data = b""
print(data.split(b"\r\n")[0].decode() if data else "cut")
PY
}
got=$(trickle "$(cat "$T/port.short")")
[ "$got" = cut ] || fail "a grace of 2 s (settings file) did not cut a slow body: $got"
got=$(trickle "$(cat "$T/port.long")")
case $got in
HTTP/1.1\ 4*) ;; # the body is no report: refused, but read to its end
*) fail "a grace of 3600 s cut a slow body: $got" ;;
esac
kill -0 $PID_short && kill -0 $PID_long || fail "a server died"
echo "server-grace: all checks passed"
