# Helpers of the repository system tests (sourced, not run): real
# repositories made at test time with the ecosystems' own tools.
. "$top_srcdir/tests/system/lib.sh"

TOOL="$top_builddir/server/reforge-repo-tool"
[ -x "$TOOL" ] || fail "$TOOL is not built (make check builds it)"

# rt ARGS...: the tool on the test's database and cache.
rt() {
	"$TOOL" --db "$T/repo.db" --cache "$T/cache" "$@"
}

# count NAME: the package count `list` reports for a repository.
count() {
	rt --json list | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["name"] == sys.argv[1]:
        print(r["packages"])' "$1"
}

# mkdeb DIR NAME VERSION ARCH: DIR/NAME_VERSION_ARCH.deb with one file.
mkdeb() {
	_t="$T/debtree/$2"
	mkdir -p "$_t/DEBIAN" "$_t/usr/share/$2"
	echo "$2 $3" >"$_t/usr/share/$2/data"
	cat >"$_t/DEBIAN/control" <<CTRL
Package: $2
Version: $3
Architecture: $4
Maintainer: reforge tests <tests@reforge.invalid>
Description: reforge repository test package $2
CTRL
	mkdir -p "$1"
	dpkg-deb --root-owner-group -Zgzip -b "$_t" \
		"$1/${2}_$(echo "$3" | sed 's/^[0-9]*://')_$4.deb" >/dev/null
	rm -rf "$_t"
}

# deb_repo DIR: a dists/ layout with apt-ftparchive (Packages.xz,
# Packages.gz and Release with SHA256/SHA512) over DIR/pool.
deb_repo() {
	_r=$1
	_d="$_r/dists/test/main/binary-amd64"
	mkdir -p "$_d"
	(cd "$_r" && apt-ftparchive packages pool) >"$_d/Packages"
	xz -k -f "$_d/Packages"
	gzip -k -f -n "$_d/Packages"
	rm -f "$_r/dists/test/Release" "$_r/dists/test/InRelease" \
		"$_r/dists/test/Release.gpg"
	(cd "$_r/dists/test" &&
		apt-ftparchive -o APT::FTPArchive::Release::Suite=test \
			-o APT::FTPArchive::Release::Components=main \
			-o APT::FTPArchive::Release::Architectures=amd64 \
			release .) >"$T/Release.tmp"
	mv "$T/Release.tmp" "$_r/dists/test/Release"
}

# gpg_key DIR: a signing key in a private GNUPGHOME (DIR), exported to
# $T/key.gpg; the agents started are stopped when the test ends.
gpg_key() {
	GNUPGHOME="$1"
	export GNUPGHOME
	mkdir -p -m 700 "$GNUPGHOME"
	trap 'for _g in "$T"/gnupg*; do GNUPGHOME=$_g gpgconf --kill all \
		2>/dev/null; done; rm -rf "$T"' EXIT
	gpg --batch --quiet --passphrase '' --quick-gen-key \
		'reforge test <repo@reforge.invalid>' rsa2048 sign never \
		2>/dev/null || fail "gpg could not make a key"
	gpg --batch --quiet --export >"$T/key.gpg"
}

# deb_sign DIR: InRelease and Release.gpg for DIR/dists/test/Release.
deb_sign() {
	gpg --batch --quiet --yes --clearsign \
		-o "$1/dists/test/InRelease" "$1/dists/test/Release"
	gpg --batch --quiet --yes --detach-sign --armor \
		-o "$1/dists/test/Release.gpg" "$1/dists/test/Release"
}

# rpm_pkg TOP NAME VERSION RELEASE [EPOCH]: a noarch rpm built by rpmbuild.
rpm_pkg() {
	_spec="$T/$2.spec"
	{
		echo "Name: $2"
		echo "Version: $3"
		echo "Release: $4"
		[ -n "$5" ] && echo "Epoch: $5"
		cat <<SPEC
Summary: reforge repository test package
License: GPL
BuildArch: noarch
%description
test
%install
mkdir -p %{buildroot}/usr/share/$2
echo $2 > %{buildroot}/usr/share/$2/data
%files
/usr/share/$2/data
SPEC
	} >"$_spec"
	rpmbuild -bb --quiet --define "_topdir $1" "$_spec" >/dev/null 2>&1 ||
		fail "rpmbuild $2"
}

# pacman_pkg OUTDIR NAME VERSION: a package made like makepkg does.
pacman_pkg() {
	_t="$T/pactree/$2"
	mkdir -p "$_t/usr/share/$2"
	echo "$2 $3" >"$_t/usr/share/$2/data"
	sh "$top_srcdir/tests/pkgdb-mkpacman.sh" "$1" "$_t" "$2" "$3" ||
		fail "pacman package $2"
	rm -rf "$_t"
}
