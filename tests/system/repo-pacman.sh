#!/bin/sh
# pacman repositories made with repo-add over packages built as makepkg
# does: index, reconcile, fetch; a truncated or corrupt .db fails clearly
# and leaves the previous index in place.
. "$top_srcdir/tests/system/repo-fixtures.sh"
need repo-add bsdtar python3
scratch

R=$T/pac/os/x86_64
mkdir -p "$R"
pacman_pkg "$R" foo 1.2-1
pacman_pkg "$R" bar 1:0.5-2
repo-add -q "$R/test.db.tar.gz" "$R"/*.pkg.tar.gz >/dev/null 2>&1 ||
	fail "repo-add"
[ -e "$R/test.db" ] || fail "repo-add made no test.db"

# $repo and $arch as pacman.conf writes them
rt add test --kind pacman --url "file://$T/pac/\$repo/x86_64" \
	--suite os || fail "add"
rt add pac --kind pacman --url "file://$T/pac/os/\$arch" --suite test \
	--arch x86_64 || fail "add"
rt list | grep -q "file://$T/pac/os/x86_64" || fail "\$arch not substituted"
rt refresh pac >/dev/null 2>"$T/err" || fail "refresh: $(cat "$T/err")"
[ "$(count pac)" = 2 ] || fail "2 packages expected, got $(count pac)"

cat >"$T/scan" <<SCAN
foo - 1.2-1 - any
bar 1 0.5-2 - any
bar 1 0.5 2 any
bar - 0.5-2 - any
foo - 1.2-1 - x86_64
SCAN
rt reconcile "$T/scan" >"$T/out" || fail "reconcile"
grep '^missing' "$T/out" | cut -d' ' -f2- >"$T/missing"
printf 'bar - 0.5-2 - any\nfoo - 1.2-1 - x86_64\n' >"$T/want"
cmp -s "$T/missing" "$T/want" || fail "reconcile: $(cat "$T/out")"

p=$(rt fetch pac foo) || fail "fetch foo"
cmp -s "$p" "$R/foo-1.2-1-any.pkg.tar.gz" || fail "fetched copy differs"

# Truncated, then corrupt database.
db=$(readlink -f "$R/test.db")
cp "$db" "$T/db"
head -c 200 "$T/db" >"$db"
rt refresh pac 2>"$T/err" >/dev/null && fail "a truncated .db passed"
grep -q "corrupt or truncated\|not a pacman database" "$T/err" ||
	fail "truncated: $(cat "$T/err")"
grep -q "previous index kept" "$T/err" || fail "$(cat "$T/err")"
[ "$(count pac)" = 2 ] || fail "truncated .db: the index changed"
printf 'not an archive at all' >"$db"
rt refresh pac 2>"$T/err" >/dev/null && fail "a corrupt .db passed"
[ "$(count pac)" = 2 ] || fail "corrupt .db: the index changed"
cp "$T/db" "$db"

# A package added; one whose file was tampered with is not fetched.
pacman_pkg "$R" baz 3-1
repo-add -q "$R/test.db.tar.gz" "$R/baz-3-1-any.pkg.tar.gz" >/dev/null 2>&1
rt refresh pac >/dev/null 2>"$T/err" || fail "refresh 3: $(cat "$T/err")"
[ "$(count pac)" = 3 ] || fail "3 packages expected"
echo x >>"$R/baz-3-1-any.pkg.tar.gz"
rt fetch pac baz 2>"$T/err" >/dev/null && fail "a tampered package passed"
grep -q "size\|checksum" "$T/err" || fail "tampered: $(cat "$T/err")"
echo "repo-pacman: all checks passed"
