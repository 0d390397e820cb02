#!/bin/sh
# RELIABILITY 13 on loopback: 200 slow clients (a byte every 10 s; half
# stuck in their headers, half in a body) beside which a normal request is
# still answered at once; a per-address connection limit that refuses one
# more connection and serves other addresses; an absolute request deadline
# that cuts the slow clients however they trickle; a minimum transfer rate
# that cuts slow bodies but not an honest one. The sockets are driven by
# server-limits.py (python3's socket module).
. "$(dirname "$0")/lib.sh"
need python3
scratch

SRV="$top_builddir/reforge-server"
D="$T/data"
"$SRV" --data "$D" token create t >"$T/tok" || fail "token create"
DEADLINE=6
PER_IP=60

trap 'kill $PID_a $PID_b 2>/dev/null; wait; rm -rf "$T"' EXIT
# A: a short deadline, an idle timeout the slow clients never reach
start_server a --connections 400 --per-ip $PER_IP --idle-timeout 30 \
	--deadline $DEADLINE
# B: the default deadline and the default minimum rate (1024 bytes/s)
start_server b --connections 64 --idle-timeout 30 --min-rate 1024

ulimit -n 1024 2>/dev/null
python3 "$top_srcdir/tests/system/server-limits.py" "$(cat "$T/port.a")" \
	"$(cat "$T/port.b")" "$(cat "$T/tok")" $PER_IP $DEADLINE ||
	fail "limits: $(tail -5 "$T/server.a.log")"
kill -0 $PID_a && kill -0 $PID_b || fail "a server died under slow clients"
kill $PID_a $PID_b
wait $PID_a || fail "server A did not stop cleanly"
wait $PID_b || fail "server B did not stop cleanly"
ls "$D/tmp" | grep -q . && fail "a slow report left a file in tmp/: $(ls "$D/tmp")"
echo "server-limits: all checks passed"
