#!/bin/sh
# Debian repositories made with dpkg-deb and apt-ftparchive/dpkg-scanpackages:
# index, reconcile, fetch; corrupt or truncated metadata, checksum
# mismatches, bad signatures and an unreachable URL fail clearly and leave
# the previous index in place.
. "$top_srcdir/tests/system/repo-fixtures.sh"
need dpkg-deb apt-ftparchive dpkg-scanpackages gpg gpgv xz python3
scratch

R=$T/deb
mkdeb "$R/pool/main" hello 1.0-1 amd64
mkdeb "$R/pool/main" world 2:3.1-2 all
mkdeb "$R/pool/main" tool 0.9 amd64
deb_repo "$R"

rt add d --kind deb --url "file://$R" --suite test || fail "add"
rt add d --kind deb --url "file://$R" --suite test 2>"$T/err" &&
	fail "a second repository named d was added"
grep -q "exists" "$T/err" || fail "duplicate name: $(cat "$T/err")"
rt refresh d >"$T/out" || fail "refresh: $(cat "$T/out")"
[ "$(count d)" = 3 ] || fail "3 packages expected, got $(count d)"

# Exactly name, epoch:version and architecture.
cat >"$T/scan" <<SCAN
hello - 1.0-1 - amd64
world - 2:3.1-2 - all
world 2 3.1-2 - all
tool - 0.9 - amd64
hello - 1.0-2 - amd64
hello - 1.0-1 - arm64
world - 3.1-2 - all
absent - 1 - amd64
SCAN
rt reconcile "$T/scan" >"$T/out" || fail "reconcile"
grep '^missing' "$T/out" | cut -d' ' -f2- >"$T/missing"
cat >"$T/want" <<WANT
hello - 1.0-2 - amd64
hello - 1.0-1 - arm64
world - 3.1-2 - all
absent - 1 - amd64
WANT
cmp -s "$T/missing" "$T/want" || fail "reconcile: $(cat "$T/out")"

# Fetch into the cache, checksum verified; a damaged cached copy is
# fetched again; a tampered package in the repository is refused.
p=$(rt fetch d hello) || fail "fetch hello"
cmp -s "$p" "$R/pool/main/hello_1.0-1_amd64.deb" || fail "fetched copy differs"
echo junk >>"$p"
p2=$(rt fetch d hello) || fail "fetch over a damaged copy"
cmp -s "$p2" "$R/pool/main/hello_1.0-1_amd64.deb" || fail "not fetched again"
rt fetch d 'world:all=2:3.1-2' >/dev/null || fail "fetch world by version"
rt fetch d 'world=9' 2>"$T/err" && fail "fetch of an absent version"
cp "$R/pool/main/tool_0.9_amd64.deb" "$T/tool.deb"
echo tampered >>"$R/pool/main/tool_0.9_amd64.deb"
rt fetch d tool 2>"$T/err" && fail "a tampered package was accepted"
grep -q "size\|checksum" "$T/err" || fail "tampered package: $(cat "$T/err")"
[ ! -e "$T/cache/packages/d/tool_0.9_amd64.deb" ] ||
	fail "a tampered package stayed in the cache"
cp "$T/tool.deb" "$R/pool/main/tool_0.9_amd64.deb"

# A new package: re-indexed; the same metadata again: kept.
mkdeb "$R/pool/main" extra 1 amd64
deb_repo "$R"
rt refresh d >/dev/null || fail "refresh after adding a package"
[ "$(count d)" = 4 ] || fail "4 packages expected"
rt refresh d | grep -q unchanged || fail "unchanged metadata re-indexed"

# Each fault: a clear error, exit 1, the index of 4 stays.
expect_fail() { # WHAT PATTERN
	if rt --force refresh d 2>"$T/err" >/dev/null; then
		fail "$1: refresh succeeded"
	fi
	grep -q "$2" "$T/err" || fail "$1: unclear error: $(cat "$T/err")"
	grep -q "previous index kept" "$T/err" || fail "$1: $(cat "$T/err")"
	[ "$(count d)" = 4 ] || fail "$1: the index changed"
	rt list | grep -q "last error" || fail "$1: last error not recorded"
}
D=$R/dists/test/main/binary-amd64
cp "$D/Packages.xz" "$T/Packages.xz"
head -c 100 "$T/Packages.xz" >"$D/Packages.xz"
expect_fail "truncated Packages.xz" "size"
# same size, other bytes: a checksum mismatch
python3 - "$D/Packages.xz" "$T/Packages.xz" <<'PY'
import sys
data = bytearray(open(sys.argv[2], "rb").read())
data[len(data) // 2] ^= 0xff
open(sys.argv[1], "wb").write(data)
PY
expect_fail "corrupt Packages.xz" "checksum mismatch"
cp "$T/Packages.xz" "$D/Packages.xz"
# corrupt metadata whose checksum is right: a parse error
printf 'Package: broken\nVersion 1\n\n' | xz >"$D/Packages.xz"
cp "$R/dists/test/Release" "$T/Release"
(cd "$R/dists/test" && apt-ftparchive release . >"$T/Release.new") &&
	cp "$T/Release.new" "$R/dists/test/Release"
expect_fail "malformed Packages" "malformed"
cp "$T/Packages.xz" "$D/Packages.xz"
cp "$T/Release" "$R/dists/test/Release"
# a truncated Release
head -c 40 "$T/Release" >"$R/dists/test/Release"
expect_fail "truncated Release" "malformed\|lists no"
cp "$T/Release" "$R/dists/test/Release"
rt refresh d >/dev/null || fail "refresh after repair"

# Signatures: a key made here; InRelease and Release.gpg checked by gpgv.
gpg_key "$T/gnupg1"
cp "$T/key.gpg" "$T/key1.gpg"
deb_sign "$R"
rt add s --kind deb --url "file://$R" --suite test --keyring "$T/key1.gpg" ||
	fail "add signed"
rt refresh s >/dev/null 2>"$T/err" || fail "signed refresh: $(cat "$T/err")"
[ "$(count s)" = 4 ] || fail "signed: 4 packages expected"
# tampered InRelease
sed -i 's/^Suite: test/Suite: evil/' "$R/dists/test/InRelease"
rt refresh s 2>"$T/err" >/dev/null && fail "a tampered InRelease passed"
grep -q "bad or unknown signature" "$T/err" || fail "sig: $(cat "$T/err")"
[ "$(count s)" = 4 ] || fail "bad signature: the index changed"
# no InRelease: Release + Release.gpg, then a tampered Release
rm "$R/dists/test/InRelease"
rt refresh s >/dev/null 2>"$T/err" || fail "Release.gpg: $(cat "$T/err")"
echo "Origin: evil" >>"$R/dists/test/Release"
rt refresh s 2>"$T/err" >/dev/null && fail "a tampered Release passed"
grep -q "bad or unknown signature" "$T/err" || fail "sig: $(cat "$T/err")"
# signed by another key
cp "$T/Release" "$R/dists/test/Release"
gpg_key "$T/gnupg2"
deb_sign "$R"
rt refresh s 2>"$T/err" >/dev/null && fail "a foreign key's signature passed"
grep -q "bad or unknown signature" "$T/err" || fail "sig: $(cat "$T/err")"
[ "$(count s)" = 4 ] || fail "foreign key: the index changed"
# no signature at all while a keyring is configured
rm -f "$R/dists/test/InRelease" "$R/dists/test/Release.gpg"
rt refresh s 2>"$T/err" >/dev/null && fail "an unsigned Release passed"
grep -q "cannot check the signature" "$T/err" || fail "$(cat "$T/err")"

# Unreachable URL: nothing listens on port 1 of the loopback.
rt add gone --kind deb --url "http://127.0.0.1:1/debian" --suite test ||
	fail "add gone"
rt refresh gone 2>"$T/err" >/dev/null && fail "an unreachable URL refreshed"
grep -q "cannot fetch" "$T/err" || fail "unreachable: $(cat "$T/err")"
[ "$(count d)" = 4 ] || fail "another repository's index changed"

# A flat repository made by dpkg-scanpackages, without Release.
F=$T/flat
mkdeb "$F" flatpkg 5.0 amd64
(cd "$F" && dpkg-scanpackages -m . 2>/dev/null | gzip -n >Packages.gz)
rt add flat --kind deb --url "file://$F" --suite ./ || fail "add flat"
rt refresh flat >/dev/null 2>"$T/err" || fail "flat: $(cat "$T/err")"
[ "$(count flat)" = 1 ] || fail "flat: 1 package expected"
p=$(rt fetch flat flatpkg) || fail "fetch from the flat repository"
cmp -s "$p" "$F/flatpkg_5.0_amd64.deb" || fail "flat: fetched copy differs"

# Bad definitions are refused.
rt add bad --kind deb --url "ftp://x/" --suite test 2>/dev/null &&
	fail "an ftp URL was accepted"
rt add bad --kind nope --url "file:///x" 2>/dev/null && fail "unknown kind"
rt add 'a/b' --kind deb --url "file:///x" --suite t 2>/dev/null &&
	fail "a name with a slash was accepted"
rt add nosuite --kind deb --url "file:///x" 2>/dev/null &&
	fail "a deb repository without a suite was accepted"

rt remove flat || fail "remove"
rt list | grep -q '^flat ' && fail "flat still listed"
rt remove flat 2>/dev/null && fail "removing twice succeeded"
echo "repo-deb: all checks passed"
