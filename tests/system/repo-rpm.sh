#!/bin/sh
# rpm-md repositories made with rpmbuild and createrepo_c: index (epochs
# included), reconcile, fetch; corrupt primary, truncated repomd.xml and a
# bad signature fail clearly and leave the previous index in place.
. "$top_srcdir/tests/system/repo-fixtures.sh"
need rpmbuild createrepo_c gpg gpgv python3
scratch

R=$T/rpm
rpm_pkg "$T/top" alpha 1.0 1
rpm_pkg "$T/top" beta 2.5 3.el9 4
mkdir -p "$R"
cp "$T"/top/RPMS/noarch/*.rpm "$R/"
createrepo_c -q "$R" || fail "createrepo_c"

rt add r --kind rpm-md --url "file://$R" || fail "add"
rt refresh r >/dev/null 2>"$T/err" || fail "refresh: $(cat "$T/err")"
[ "$(count r)" = 2 ] || fail "2 packages expected, got $(count r)"

# rpm spells the epoch apart; 0 and none are the same epoch.
cat >"$T/scan" <<SCAN
alpha - 1.0 1 noarch
alpha 0 1.0 1 noarch
beta 4 2.5 3.el9 noarch
beta - 2.5 3.el9 noarch
alpha - 1.0 1 x86_64
SCAN
rt reconcile "$T/scan" >"$T/out" || fail "reconcile"
grep '^missing' "$T/out" | cut -d' ' -f2- >"$T/missing"
printf 'beta - 2.5 3.el9 noarch\nalpha - 1.0 1 x86_64\n' >"$T/want"
cmp -s "$T/missing" "$T/want" || fail "reconcile: $(cat "$T/out")"

p=$(rt fetch r 'beta:noarch=4:2.5-3.el9') || fail "fetch beta"
cmp -s "$p" "$R/beta-2.5-3.el9.noarch.rpm" || fail "fetched copy differs"
rpm -qp --qf '%{NAME}\n' "$p" 2>/dev/null | grep -qx beta ||
	fail "rpm does not read the fetched package"

# Corrupt primary with the right name: checksum mismatch.
prim=$(ls "$R"/repodata/*primary.xml.*)
cp "$prim" "$T/primary"
python3 - "$prim" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
d[len(d) // 2] ^= 0x55
open(p, "wb").write(d)
PY
rt --force refresh r 2>"$T/err" >/dev/null && fail "corrupt primary passed"
grep -q "checksum mismatch\|size" "$T/err" || fail "primary: $(cat "$T/err")"
grep -q "previous index kept" "$T/err" || fail "$(cat "$T/err")"
[ "$(count r)" = 2 ] || fail "corrupt primary: the index changed"
cp "$T/primary" "$prim"

# Truncated repomd.xml.
cp "$R/repodata/repomd.xml" "$T/repomd.xml"
head -c 300 "$T/repomd.xml" >"$R/repodata/repomd.xml"
rt --force refresh r 2>"$T/err" >/dev/null && fail "truncated repomd passed"
grep -q "repomd.xml" "$T/err" || fail "repomd: $(cat "$T/err")"
[ "$(count r)" = 2 ] || fail "truncated repomd: the index changed"
cp "$T/repomd.xml" "$R/repodata/repomd.xml"

# A new package, then a signed repository and a tampered repomd.xml.
rpm_pkg "$T/top" gamma 0.1 1
cp "$T/top/RPMS/noarch/gamma-0.1-1.noarch.rpm" "$R/"
createrepo_c -q --update "$R" || fail "createrepo_c --update"
rt refresh r >/dev/null 2>"$T/err" || fail "refresh 3: $(cat "$T/err")"
[ "$(count r)" = 3 ] || fail "3 packages expected"
gpg_key "$T/gnupg1"
gpg --batch --quiet --yes --detach-sign --armor \
	-o "$R/repodata/repomd.xml.asc" "$R/repodata/repomd.xml"
rt add rs --kind rpm-md --url "file://$R" --keyring "$T/key.gpg" ||
	fail "add signed"
rt refresh rs >/dev/null 2>"$T/err" || fail "signed: $(cat "$T/err")"
sed -i 's/<revision>/<revision>1/' "$R/repodata/repomd.xml"
rt refresh rs 2>"$T/err" >/dev/null && fail "a tampered repomd.xml passed"
grep -q "bad or unknown signature" "$T/err" || fail "sig: $(cat "$T/err")"
[ "$(count rs)" = 3 ] || fail "bad signature: the index changed"
echo "repo-rpm: all checks passed"
