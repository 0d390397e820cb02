#!/bin/sh
# reforge-server with repositories: a deb repository made at test time
# holds one of the two packages of a dpkg root. The first scan's answer
# names the other as in no repository, its files (unmodified ones too)
# travel in the overlay and the scan completes only with them stored;
# once a repository has it, a new scan no longer names it. Also: the
# reforge repo commands, a sparse file sent as a pax sparse entry, repo add
# --from-scan from the root's apt sources, and scans arriving during
# refreshes that flip a repository's contents never see a mixed index.
. "$(dirname "$0")/repo-fixtures.sh"
need dpkg-deb dpkg apt-ftparchive xz python3 curl
scratch

SRV="$top_builddir/reforge-server"
CLI="$top_builddir/reforge"
D="$T/data"

"$SRV" --data "$D" token create t >"$T/token" || fail "token create"
"$SRV" --data "$D" --listen 127.0.0.1:0 --port-file "$T/port" \
	2>"$T/server.log" &
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$T/port" "$T/server.log"
URL="http://127.0.0.1:$(cat "$T/port")"
R="$CLI --server $URL --token-file $T/token"
jq() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# --- two packages installed in a dpkg root; only rf-inrepo in a repo ------
P="$T/pkgs"
mkdir -p "$P/rf-inrepo/usr/share/inrepo" "$P/rf-norepo/usr/share/norepo" \
	"$P/rf-norepo/usr/bin"
echo "in a repository" >"$P/rf-inrepo/usr/share/inrepo/data"
echo "in no repository" >"$P/rf-norepo/usr/share/norepo/data"
head -c 50000 /dev/urandom >"$P/rf-norepo/usr/share/norepo/blob"
printf '#!/bin/sh\necho norepo\n' >"$P/rf-norepo/usr/bin/norepo"
chmod 755 "$P/rf-norepo/usr/bin/norepo"
make_deb "$P" rf-inrepo 1.0-1
make_deb "$P" rf-norepo 2.0-1
ROOT="$T/root"
new_dpkg_root "$ROOT"
dpkg --root="$ROOT" --force-not-root --force-depends -i "$P/rf-inrepo.deb" \
	"$P/rf-norepo.deb" >"$T/dpkg.log" 2>&1 ||
	fail "dpkg: $(cat "$T/dpkg.log")"
# a sparse unowned file: 8 MiB with 4 KiB of data in the middle
mkdir -p "$ROOT/var/lib/app"
truncate -s 8M "$ROOT/var/lib/app/sparse"
printf 'middle' | dd of="$ROOT/var/lib/app/sparse" bs=4096 seek=1000 \
	conv=notrunc 2>/dev/null
# the host's own apt sources
mkdir -p "$ROOT/etc/apt/sources.list.d"
echo "deb [trusted=yes] file://$T/hostrepo test main" \
	>"$ROOT/etc/apt/sources.list.d/host.list"

REPO1="$T/repo1"
mkdir -p "$REPO1/pool"
cp "$P/rf-inrepo.deb" "$REPO1/pool/"
deb_repo "$REPO1"

# --- repo add / list / refresh / fetch / errors ---------------------------
$R repo add main --kind deb --url "file://$REPO1" --suite test \
	--components main --arch amd64 >"$T/out" || fail "repo add: $(cat "$T/out")"
$R repo add main --kind deb --url "file://$REPO1" --suite test 2>"$T/err" &&
	fail "a repository name twice"
grep -q "409" "$T/err" || fail "name twice: $(cat "$T/err")"
$R repo add 'bad/name' --kind deb --url file:///x 2>/dev/null &&
	fail "a bad name was accepted"
$R repo add x --kind nonsense --url file:///x 2>/dev/null &&
	fail "an unknown kind was accepted"
$R repo refresh main >"$T/out" || fail "repo refresh: $(cat "$T/out")"
grep -q "main: 1 packages" "$T/out" || fail "refresh: $(cat "$T/out")"
[ "$($R --json repo list | jq 'j["repositories"][0]["packages"]')" = 1 ] ||
	fail "repo list: $($R repo list)"
$R repo refresh nosuch 2>"$T/err" && fail "refresh of no repository"
grep -q 404 "$T/err" || fail "refresh nosuch: $(cat "$T/err")"
$R --json repo fetch main rf-inrepo >"$T/fetch" || fail "repo fetch"
[ "$(jq 'j["fetched"][0]["sha256"]' <"$T/fetch")" = \
	"$(sha256sum "$P/rf-inrepo.deb" | cut -c1-64)" ] ||
	fail "fetch checksum: $(cat "$T/fetch")"
$R repo fetch main rf-norepo 2>/dev/null && fail "fetched a package no repository has"
# the file itself can be downloaded
curl -sf -H "Authorization: Bearer $(cat "$T/token")" \
	"$URL/api/v1/repos/main/fetch?package=rf-inrepo" -o "$T/dl.deb" ||
	fail "download"
cmp "$T/dl.deb" "$P/rf-inrepo.deb" || fail "downloaded package differs"

# --- an offline overlay (reforge-scan --overlay): a pax sparse entry -------
"$SCAN" -q -r "$ROOT" --report "$T/r.xml" --overlay "$T/ov.tar" >/dev/null 2>&1 ||
	fail "scan --overlay"
validate "$T/r.xml"
grep -q "<file path=\"/etc/apt/sources.list.d/host.list\" content-base64=" "$T/r.xml" ||
	fail "no <repositories> in the report"
python3 - "$T/ov.tar" "$ROOT/var/lib/app/sparse" <<'PY' || fail "sparse entry"
import sys, tarfile
t = tarfile.open(sys.argv[1])
m = t.getmember("var/lib/app/sparse")
assert m.sparse is not None and len(m.sparse) >= 1, m.pax_headers
assert t.extractfile(m).read() == open(sys.argv[2], "rb").read()
PY

# the overlay of every modified and unowned file, without rf-norepo's
# unmodified files, leaves the scan pending: they are needed
gzip -c "$T/r.xml" >"$T/r.xml.gz"
S=$(curl -s -H "Authorization: Bearer $(cat "$T/token")" --data-binary @"$T/r.xml.gz" \
	"$URL/api/v1/scans?name=partial" | jq 'j["scan"]')
curl -s -X PATCH -H "Authorization: Bearer $(cat "$T/token")" -H "Upload-Offset: 0" \
	--data-binary @"$T/ov.tar" "$URL/api/v1/scans/$S/overlay" >"$T/out"
grep -q "without 3 of the contents the scan needs" "$T/out" ||
	fail "a scan completed without its missing package's files: $(cat "$T/out")"
[ "$($R --json scan show "$S" | jq 'j["state"]')" = pending ] || fail "partial scan state"
$R scan delete "$S" >/dev/null || fail "scan delete"

# --- first scan: rf-norepo is missing, all its files travel ---------------
SCANOPT="-q -r $ROOT --server $URL --token-file $T/token --name host"
"$SCAN" $SCANOPT 2>"$T/s1.err" >/dev/null || fail "scan 1: $(cat "$T/s1.err")"
grep -q ", 1 packages in no repository" "$T/s1.err" ||
	fail "scan 1: $(cat "$T/s1.err")"
last() { $R --json scans | jq 'j["scans"][-1]["id"]'; }
$R --json scan show "$(last)" >"$T/show1" || fail "scan show"
[ "$(jq 'j["state"]' <"$T/show1")" = complete ] || fail "scan 1 not complete"
[ "$(jq '[p["name"] for p in j["missing_packages"]]' <"$T/show1")" = \
	"['rf-norepo']" ] || fail "missing: $(cat "$T/show1")"
[ "$(jq 'j["missing_packages"][0]["version"]' <"$T/show1")" = "0:2.0-1" ] ||
	fail "missing version: $(cat "$T/show1")"
obj() { _s=$(sha256sum "$1" | cut -c1-64); echo "$D/objects/$(echo "$_s" | cut -c1-2)/$(echo "$_s" | cut -c3-)"; }
for f in usr/share/norepo/data usr/share/norepo/blob usr/bin/norepo; do
	cmp "$(obj "$ROOT/$f")" "$ROOT/$f" || fail "$f of rf-norepo not stored"
done
[ -e "$(obj "$ROOT/usr/share/inrepo/data")" ] &&
	fail "an unmodified file of a package in a repository was sent"
# the sparse file: stored whole, sent without its holes
cmp "$(obj "$ROOT/var/lib/app/sparse")" "$ROOT/var/lib/app/sparse" ||
	fail "the sparse file's content differs"
b1=$(sed -n 's/.*overlay \([0-9]*\) bytes.*/\1/p' "$T/s1.err")
[ "$b1" -lt 1000000 ] || fail "the overlay carried the sparse file's holes ($b1 bytes)"

# --- a repository that has rf-norepo: the next scan needs nothing ---------
REPO2="$T/repo2"
mkdir -p "$REPO2/pool"
cp "$P/rf-norepo.deb" "$REPO2/pool/"
deb_repo "$REPO2"
$R repo add second --kind deb --url "file://$REPO2" --suite test \
	--components main --arch amd64 >/dev/null || fail "repo add second"
$R repo refresh >"$T/out" || fail "refresh all: $(cat "$T/out")"
"$SCAN" $SCANOPT 2>"$T/s2.err" >/dev/null || fail "scan 2: $(cat "$T/s2.err")"
grep -q ", 0 packages in no repository" "$T/s2.err" ||
	fail "scan 2: $(cat "$T/s2.err")"
S2=$(last)
[ "$($R --json scan show "$S2" | jq 'len(j["missing_packages"])')" = 0 ] ||
	fail "scan $S2 still lists a missing package"

# --- repo add --from-scan --------------------------------------------------
mkdir -p "$T/hostrepo/pool"
cp "$P/rf-norepo.deb" "$T/hostrepo/pool/"
deb_repo "$T/hostrepo"
$R repo add --from-scan "$S2" >"$T/from" || fail "from-scan list"
grep -q "file://$T/hostrepo" "$T/from" || fail "from-scan: $(cat "$T/from")"
$R --json repo add --from-scan "$S2" --all >"$T/from" || fail "from-scan --all: $(cat "$T/from")"
name=$(jq 'j["added"][0]' <"$T/from")
$R --json repo list | grep -q "\"$name\"" || fail "from-scan did not add"
$R repo refresh "$name" >/dev/null || fail "refresh of the host's repository"
$R repo remove "$name" >/dev/null || fail "repo remove"
$R repo remove "$name" 2>/dev/null && fail "removed twice"

# --- refreshes during scans: each scan sees the old index or the new ------
$R repo remove main >/dev/null && $R repo remove second >/dev/null ||
	fail "repo remove"
FLIP="$T/flip"
mkdir -p "$FLIP/pool"
cp "$P/rf-inrepo.deb" "$P/rf-norepo.deb" "$FLIP/pool/"
deb_repo "$FLIP"
mv "$FLIP/dists" "$T/dists-both"
rm "$FLIP"/pool/*
mkdeb "$FLIP/pool" rf-other 1.0 all
deb_repo "$FLIP"
mv "$FLIP/dists" "$T/dists-none"
cp "$P/rf-inrepo.deb" "$P/rf-norepo.deb" "$FLIP/pool/"
cp -a "$T/dists-both" "$FLIP/dists"
$R repo add flip --kind deb --url "file://$FLIP" --suite test \
	--components main --arch amd64 >/dev/null || fail "repo add flip"
(
	for k in 1 2 3 4 5 6; do
		for s in none both; do
			rm -rf "$FLIP/dists.new"
			cp -a "$T/dists-$s" "$FLIP/dists.new"
			rm -rf "$FLIP/dists" && mv "$FLIP/dists.new" "$FLIP/dists"
			$R repo refresh flip >/dev/null 2>&1
		done
	done
) &
FPID=$!
for k in 1 2 3 4 5; do
	"$SCAN" $SCANOPT 2>"$T/f.err" >/dev/null || fail "scan during refresh: $(cat "$T/f.err")"
done
wait $FPID
$R --json scans | jq '"\n".join(str(s["id"]) for s in j["scans"][-5:])' >"$T/ids"
while read -r id; do
	n=$($R --json scan show "$id" | jq 'len(j["missing_packages"])')
	[ "$n" = 0 ] || [ "$n" = 2 ] || fail "scan $id saw a mixed index ($n missing)"
done <"$T/ids"
$R store check >/dev/null || fail "store check"
echo "PASS: server-repo"
