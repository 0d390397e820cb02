#!/bin/sh
# reforge-gen end to end on a pacman root built at test time: packages made
# as makepkg makes them (tests/pkgdb-mkpacman.sh; one with an epoch, one
# recompressed with zstd), served by a repository made with repo-add
# (%SHA256SUM% verified) and by a plain directory of .pkg.tar.* files,
# installed with pacman --root -U and then changed; the root is scanned,
# its overlay made, and a raw image generated without tuning. The fidelity
# check must hold: the generated filesystem, extracted with debugfs (no
# mount, no loop device) and scanned again, has the same packages and the
# same files as the source, and none of the packages' .PKGINFO/.MTREE
# members. Then bad input: a package whose bytes differ from the
# database's checksum, a package with a member named ../../x and one that
# writes through an absolute symlink; each fails with a clear message,
# writes no image and nothing outside the staging root. Last, the same
# root through reforge-server's image jobs.
. "$(dirname "$0")/gen-pkg-lib.sh"
need pacman repo-add bsdtar zstd debugfs e2fsck setfattr python3
[ "$(id -u)" -eq 0 ] || skip "pacman --root and owners need root"
scratch
R="$T/root"
MKPKG="$top_srcdir/tests/pkgdb-mkpacman.sh"
mkdir -p "$T/pkgs" "$T/cache"

t="$T/tree-alpha"
mkdir -p "$t/usr/bin" "$t/usr/share/alpha/private" "$t/etc"
printf '#!/bin/sh\necho alpha\n' >"$t/usr/bin/alpha"
chmod 4755 "$t/usr/bin/alpha"
echo "alpha data" >"$t/usr/share/alpha/data.txt"
ln "$t/usr/share/alpha/data.txt" "$t/usr/share/alpha/data-link.txt"
echo "gone" >"$t/usr/share/alpha/gone.txt"
echo "secret" >"$t/usr/share/alpha/private/key"
chmod 700 "$t/usr/share/alpha/private"
chmod 600 "$t/usr/share/alpha/private/key"
echo "setting = 1" >"$t/etc/alpha.conf"
ln -s /usr/bin/alpha "$t/usr/bin/alpha-abs"
ln -s ../share/alpha/data.txt "$t/usr/bin/alpha-rel"
sh "$MKPKG" "$T/pkgs" "$t" rfalpha 2:1.0-1 'backup = etc/alpha.conf' ||
	fail "cannot make rfalpha"
t="$T/tree-beta"
mkdir -p "$t/usr/lib/beta" "$t/var/lib/beta"
echo "beta lib" >"$t/usr/lib/beta/lib.txt"
echo state >"$t/var/lib/beta/state"
chown 1234:1234 "$t/var/lib/beta/state"
sh "$MKPKG" "$T/pkgs" "$t" rfbeta 2.3-4 || fail "cannot make rfbeta"
A="$T/pkgs/rfalpha-2:1.0-1-any.pkg.tar.gz"
B="$T/pkgs/rfbeta-2.3-4-any.pkg.tar.zst"
gzip -dc "$T/pkgs/rfbeta-2.3-4-any.pkg.tar.gz" | zstd -q -o "$B" ||
	fail "zstd failed"
# a repo-add database for alpha, a plain directory of packages for beta
mkdir -p "$T/repo1" "$T/repo2"
cp "$A" "$T/repo1/"
cp "$B" "$T/repo2/"
repo-add -q "$T/repo1/rftest.db.tar.gz" "$T/repo1/$(basename "$A")" \
	>"$T/repo-add.log" 2>&1 || { cat "$T/repo-add.log"; fail "repo-add failed"; }
[ -e "$T/repo1/rftest.db" ] || fail "repo-add made no rftest.db"

mkdir -p "$R/etc" "$R/var/lib/pacman"
printf 'root:x:0:0::/root:/bin/sh\nu:x:1234:1234::/home/u:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nu:x:1234:\n' >"$R/etc/group"
printf '[options]\nArchitecture = auto\nSigLevel = Never\nLocalFileSigLevel = Never\n' \
	>"$T/pacman.conf"
cp "$T/pacman.conf" "$R/etc/pacman.conf"
pacman --root "$R" --dbpath "$R/var/lib/pacman" --config "$T/pacman.conf" \
	--logfile "$T/pacman.log" --cachedir "$T/cache" --noconfirm \
	--noprogressbar -U "$A" "$B" >"$T/pacman.out" 2>&1 ||
	{ cat "$T/pacman.out"; fail "pacman -U failed"; }
# the changes the image must carry
echo "setting = 2" >"$R/etc/alpha.conf"
rm "$R/usr/share/alpha/gone.txt"
chmod 750 "$R/usr/lib/beta"
mkdir -p "$R/opt/app"
echo "mine" >"$R/opt/app/tool"
setfattr -n user.rf -v hello "$R/opt/app/tool" || fail "setfattr failed"
ln -s /nonexistent "$R/opt/app/dangling"

"$SCAN" -q --root "$R" --report "$T/src.xml" >/dev/null 2>"$T/scan.err" ||
	{ cat "$T/scan.err"; fail "reforge-scan of the source failed"; }
grep -q 'db="alpm"' "$T/src.xml" || fail "the scan has no alpm package"
grep -q 'epoch="2"' "$T/src.xml" || fail "the scan lost rfalpha's epoch"
make_overlay "$R" "$T/src.xml" "$T/overlay.tar"

# --- generate, fidelity ---
gen_image 2
for m in .PKGINFO .MTREE .BUILDINFO .INSTALL; do
	[ -e "$T/ex/$m" ] && fail "the package member $m is in the image"
done
[ "$(stat -c %a "$T/ex/usr/bin/alpha")" = 4755 ] ||
	fail "/usr/bin/alpha lost its setuid bit"
check_fidelity
# the same through the payload cache (the decoded tar stored, with its
# dot members, which the read back skips too)
cached_twice 2 2
for m in .PKGINFO .MTREE .BUILDINFO .INSTALL; do
	[ -e "$T/ex/$m" ] && fail "the package member $m is in the image (cache)"
done

# --- bad input ---
# bytes that differ from the database's %SHA256SUM%
cp -r "$T/repo1" "$T/bad1"
f="$T/bad1/$(basename "$A")"
printf 'X' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") - 30)) conv=notrunc 2>/dev/null
gen_bad sum "$T/bad1" "$T/repo2"
grep -q 'SHA-256 differs from the one the repository' "$T/sum.err" ||
	fail "unclear message for a checksum mismatch: $(cat "$T/sum.err")"
# evil_pkg DIR MEMBER...: an rfbeta 2.3-4 package made by hand, whose
# members are "NAME" (a file), "NAME=TARGET" (a symlink)
evil_pkg() {
	python3 - "$@" <<'PY' || fail "cannot write the hostile package"
import io, sys, tarfile
out = sys.argv[1] + '/rfbeta-2.3-4-any.pkg.tar.gz'
with tarfile.open(out, 'w:gz', format=tarfile.PAX_FORMAT) as t:
    def add(name, data=b'', link=None):
        i = tarfile.TarInfo(name)
        if link is not None:
            i.type, i.linkname = tarfile.SYMTYPE, link
        else:
            i.size = len(data)
        t.addfile(i, io.BytesIO(data) if link is None else None)
    add('.PKGINFO', b'pkgname = rfbeta\npkgver = 2.3-4\narch = any\n')
    for m in sys.argv[2:]:
        name, _, target = m.partition('=')
        add(name, b'pwned\n', target or None)
PY
}
mkdir "$T/bad2" "$T/bad3" "$T/outside"
evil_pkg "$T/bad2" usr/lib/beta/lib.txt ../../escaped
gen_bad dotdot "$T/repo1" "$T/bad2"
grep -q "refused entry name '../../escaped'" "$T/dotdot.err" ||
	fail "unclear message for a ../ member: $(cat "$T/dotdot.err")"
[ -e "$T/escaped" ] || [ -e "$T/../escaped" ] && fail "a ../ member was written outside the root"
# through an absolute symlink: resolved inside the root, where the
# directory it names does not exist; the host's directory stays empty
evil_pkg "$T/bad3" "lnk=$T/outside" lnk/pwned usr/lib/beta/lib.txt
gen_bad sym "$T/repo1" "$T/bad3"
[ -z "$(ls -A "$T/outside")" ] || fail "a package wrote through a symlink onto the host"
grep -q 'lnk/pwned' "$T/sym.err" || fail "unclear message: $(cat "$T/sym.err")"
grep -q 'in no repository' "$T/sym.err" &&
	fail "a bad package was taken for a missing one: $(cat "$T/sym.err")"

# --- through the server: rfalpha from its pacman repository (rfbeta is in
# none, so its files come with the scan) ---
server_gen "$R" --kind pacman --url "file://$T/repo1" --suite rftest
grep -q "packages: 1 from the repositories, 1 in no" "$T/job.log" ||
	fail "the server's job: $(cat "$T/job.log")"
for f in usr/share/alpha/data.txt usr/share/alpha/data-link.txt \
	usr/share/alpha/private/key etc/alpha.conf usr/lib/beta/lib.txt; do
	cmp "$R/$f" "$T/srv-ex/$f" || fail "the server's image: /$f differs"
done
[ -e "$T/srv-ex/.PKGINFO" ] && fail "the server's image has a .PKGINFO"
echo "gen-pacman: all checks passed"
