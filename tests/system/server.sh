#!/bin/sh
# reforge-server over HTTPS on loopback, driven by the real reforge-scan,
# the reforge client and curl: tokens on every route, a first scan that
# sends the contents, a second that sends none, a diff, overlays that must
# be refused (escapes, unannounced, wrong content), 413, 409, 403, an
# offline overlay imported later, deletion and the store check.
. "$(dirname "$0")/lib.sh"
need openssl curl python3
scratch

SRV="$top_builddir/reforge-server"
CLI="$top_builddir/reforge"
D="$T/data"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" \
	-out "$T/cert.pem" 2>/dev/null || fail "openssl cannot make a certificate"

"$SRV" --data "$D" token create alice >"$T/alice" || fail "token create"
"$SRV" --data "$D" token create bob >"$T/bob" || fail "token create bob"
"$SRV" --data "$D" token create alice >/dev/null 2>&1 && fail "a token name twice"
grep -q "$(cat "$T/alice")" "$D/reforge.db" && fail "the token itself is stored"

"$SRV" --data "$D" --listen 127.0.0.1:0 --port-file "$T/port" \
	--tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --max-body 2000000 \
	2>"$T/server.log" &
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/port" "$T/server.log"
URL="https://127.0.0.1:$(cat "$T/port")"
A="Authorization: Bearer $(cat "$T/alice")"
C="curl -s --cacert $T/cert.pem"
R="$CLI --server $URL --token-file $T/alice --cacert $T/cert.pem"

# a root without package database: everything is unowned
mkroot() {
	mkdir -p "$1/etc/app" "$1/usr/bin" "$1/var/lib/app"
	echo "setting = 1" >"$1/etc/app/app.conf"
	head -c 200000 /dev/urandom >"$1/var/lib/app/data"
	printf '#!/bin/sh\necho hi\n' >"$1/usr/bin/tool"
	chmod 755 "$1/usr/bin/tool"
	ln -s ../usr/bin/tool "$1/etc/tool-link"
	ln "$1/etc/app/app.conf" "$1/etc/app/hardlink.conf"
	cp "$1/var/lib/app/data" "$1/var/lib/app/copy"
}
mkroot "$T/root"
SCANOPT="-q -r $T/root --server $URL --token-file $T/alice --cacert $T/cert.pem"

# --- authentication: every route, nothing changes -------------------------
for route in "GET /api/v1/scans" "POST /api/v1/scans?name=x" \
	"GET /api/v1/scans/1" "DELETE /api/v1/scans/1" \
	"GET /api/v1/scans/1/diff/2" "GET /api/v1/scans/1/overlay" \
	"PATCH /api/v1/scans/1/overlay" "POST /api/v1/store/check" \
	"GET /nowhere"; do
	set -- $route
	for auth in "" "Authorization: Bearer $(printf '%064d' 0)" \
		"Authorization: Basic YTpi" "Authorization: Bearer short"; do
		code=$($C -o /dev/null -w '%{http_code}' -X "$1" -H "$auth" \
			-H "Upload-Offset: 0" --data-binary @/etc/hostname \
			"$URL$2")
		[ "$code" = 401 ] || fail "$1 $2 with '$auth' answered $code, not 401"
	done
done
[ "$($R --json scans | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["scans"]))')" = 0 ] ||
	fail "a refused request stored a scan"
$CLI --server "$URL" --token-file /dev/null --cacert "$T/cert.pem" scans \
	>/dev/null 2>&1 && fail "the client ran without a token"

# --- first scan: the contents go; second: nothing new --------------------
"$SCAN" $SCANOPT --name web1 2>"$T/s1.err" >/dev/null || {
	cat "$T/s1.err" >&2
	fail "the first scan was not sent"
}
grep -q "3 contents lacking" "$T/s1.err" || fail "first scan: $(cat "$T/s1.err")"
"$SCAN" $SCANOPT --name web1 2>"$T/s2.err" >/dev/null || fail "second scan"
grep -q " 0 contents lacking" "$T/s2.err" || fail "second scan: $(cat "$T/s2.err")"
b1=$(sed -n 's/.*overlay \([0-9]*\) bytes.*/\1/p' "$T/s1.err")
b2=$(sed -n 's/.*overlay \([0-9]*\) bytes.*/\1/p' "$T/s2.err")
[ "$b2" -lt $((b1 / 10)) ] || fail "second overlay $b2 bytes, first $b1"
$R scans >"$T/scans" || fail "reforge scans"
[ "$(grep -c ' complete ' "$T/scans")" = 2 ] || fail "scans: $(cat "$T/scans")"
$R scan show 2 | grep -q '^machine   web1 (#2)' || fail "scan show"
# the stored contents are the files
sha=$(sha256sum "$T/root/var/lib/app/data" | cut -c1-64)
cmp "$D/objects/$(echo "$sha" | cut -c1-2)/$(echo "$sha" | cut -c3-)" \
	"$T/root/var/lib/app/data" || fail "stored content differs"

# a change, a third scan, and the diff
echo "setting = 2" >"$T/root/etc/app/app.conf"
rm "$T/root/var/lib/app/copy"
echo new >"$T/root/etc/app/new"
"$SCAN" $SCANOPT --name web1 2>"$T/s3.err" >/dev/null || fail "third scan"
grep -q " 2 contents lacking" "$T/s3.err" || fail "third scan: $(cat "$T/s3.err")"
$R scan diff 2 3 >"$T/diff" || fail "scan diff"
grep -q 'changed   /etc/app/app.conf' "$T/diff" || fail "diff: $(cat "$T/diff")"
grep -q 'removed   /var/lib/app/copy' "$T/diff" || fail "diff: $(cat "$T/diff")"
grep -q 'added     /etc/app/new' "$T/diff" || fail "diff: $(cat "$T/diff")"

# --- overlays that must be refused ----------------------------------------
"$SCAN" -q -r "$T/root" -o "$T/r.xml" >/dev/null
validate "$T/r.xml"
gzip -c "$T/r.xml" >"$T/r.xml.gz"
post() {
	$C -H "$A" --data-binary @"$T/r.xml.gz" "$URL/api/v1/scans?name=$1" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["scan"])'
}
S=$(post evil)
[ -n "$S" ] || fail "report upload"
# a tar with one member: NAME, content CONTENT (python's tarfile, pax)
mktar() {
	python3 - "$T/bad.tar" "$1" "$2" "${3:-0}" <<'PY'
import io, sys, tarfile
out, name, content, link = sys.argv[1], sys.argv[2], sys.argv[3].encode(), sys.argv[4]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo(name)
    if link != "0":
        i.type = tarfile.SYMTYPE if link == "sym" else tarfile.LNKTYPE
        i.linkname = content.decode()
        t.addfile(i)
    else:
        i.size = len(content)
        t.addfile(i, io.BytesIO(content))
PY
}
refused() {
	code=$($C -o "$T/out" -w '%{http_code}' -X PATCH -H "$A" \
		-H "Upload-Offset: 0" --data-binary @"$T/bad.tar" \
		"$URL/api/v1/scans/$S/overlay")
	[ "$code" = 422 ] || fail "$1: answered $code: $(cat "$T/out")"
	grep -q "$2" "$T/out" || fail "$1: $(cat "$T/out")"
}
mktar ../etc/passwd x; refused "dot-dot" "absolute, empty"
mktar etc/../../x x; refused "inner dot-dot" "absolute, empty"
mktar /etc/app/new "new"; refused "absolute" "absolute, empty"
mktar etc/shadow x; refused "unannounced" "does not announce"
mktar etc/tool-link/x x; refused "through a symlink" "parent is a symlink"
mktar etc/app/new "NEW!"; refused "wrong content" "SHA-256"
mktar etc/app/new "longer"; refused "wrong size" "the report says"
mktar etc/app/new etc/app/app.conf hard
refused "hardlink" "'/etc/app/new' refused: a hardlink to '/etc/app/app.conf'"
$C -H "$A" "$URL/api/v1/scans/$S/overlay" | grep -q '"offset":0' ||
	fail "a refused entry was kept"
$C -H "$A" "$URL/api/v1/scans/$S" | grep -q '"state":"pending"' ||
	fail "a refused overlay completed the scan"
$R store check >/dev/null || fail "store check after refusals: $($R store check)"

# --- 413, 409, 403 --------------------------------------------------------
head -c 3000000 /dev/zero >"$T/big"
code=$($C -o /dev/null -w '%{http_code}' -H "$A" --data-binary @"$T/big" \
	"$URL/api/v1/scans?name=big")
[ "$code" = 413 ] || fail "an oversized report answered $code"
code=$($C -o "$T/out" -w '%{http_code}' -X PATCH -H "$A" \
	-H "Upload-Offset: 512" --data-binary @"$T/bad.tar" \
	"$URL/api/v1/scans/$S/overlay")
[ "$code" = 409 ] || fail "a wrong offset answered $code"
code=$($C -o "$T/out" -w '%{http_code}' -X PATCH \
	-H "Authorization: Bearer $(cat "$T/bob")" -H "Upload-Offset: 0" \
	--data-binary @"$T/bad.tar" "$URL/api/v1/scans/$S/overlay")
[ "$code" = 403 ] || fail "another user's token answered $code"
# two uploads at once: the slow one holds the scan, the other gets 409
head -c 400000 /dev/zero >"$T/slow.tar"
$C -o /dev/null -X PATCH -H "$A" -H "Upload-Offset: 0" --limit-rate 100k \
	--data-binary @"$T/slow.tar" "$URL/api/v1/scans/$S/overlay" &
CPID=$!
sleep 1
code=$($C -o "$T/out" -w '%{http_code}' -X PATCH -H "$A" \
	-H "Upload-Offset: 0" --data-binary @"$T/bad.tar" \
	"$URL/api/v1/scans/$S/overlay")
wait $CPID
[ "$code" = 409 ] || fail "a concurrent upload answered $code: $(cat "$T/out")"

# --- an overlay written offline, imported later ---------------------------
mkroot "$T/offline"
echo offline-only >"$T/offline/etc/app/only-here"
"$SCAN" -q -r "$T/offline" -o "$T/off.xml" --overlay "$T/off.tar" \
	>/dev/null 2>&1 || fail "--overlay"
bsdtar -tvf "$T/off.tar" >"$T/off.list" 2>&1 || fail "bsdtar cannot read the overlay"
grep -q 'etc/app/only-here' "$T/off.list" || fail "overlay: $(cat "$T/off.list")"
grep -q 'etc/tool-link -> ../usr/bin/tool' "$T/off.list" || fail "no symlink"
grep -q 'link to' "$T/off.list" || fail "no hardlink entry"
$R scan import "$T/off.xml" "$T/off.tar" offline1 | grep -q 'imported as scan' ||
	fail "scan import"
$R --json scans | python3 -c '
import json, sys
s = [x for x in json.load(sys.stdin)["scans"] if x["machine"] == "offline1"]
assert len(s) == 1 and s[0]["state"] == "complete", s' || fail "import not complete"

# --- deleting the first scans breaks nothing -------------------------------
$R scan delete 1 >/dev/null || fail "scan delete 1"
$R scan delete 2 >/dev/null || fail "scan delete 2"
$R scan show 1 >/dev/null 2>&1 && fail "a deleted scan is still there"
$R store check >"$T/check" || fail "store check after delete: $(cat "$T/check")"
[ -f "$D/objects/$(echo "$sha" | cut -c1-2)/$(echo "$sha" | cut -c3-)" ] ||
	fail "a content scan 3 uses was deleted with scans 1 and 2"

# --- the check finds damage ----------------------------------------------
obj="$D/objects/$(echo "$sha" | cut -c1-2)/$(echo "$sha" | cut -c3-)"
printf 'X' | dd of="$obj" bs=1 seek=100 conv=notrunc 2>/dev/null
echo stray >"$D/objects/$(echo "$sha" | cut -c1-2)/$(printf '%062d' 7)"
$R store check >"$T/check" && fail "store check missed damage"
grep -q "corrupt.*$sha" "$T/check" || fail "corruption not named: $(cat "$T/check")"
grep -q "orphaned" "$T/check" || fail "orphan not named: $(cat "$T/check")"
echo "server: all checks passed"
