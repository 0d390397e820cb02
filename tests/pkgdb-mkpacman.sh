#!/bin/sh
# Build a pacman package as makepkg does, without makepkg (which refuses to
# run as root): a .PKGINFO, an .MTREE made by bsdtar with makepkg's options,
# and the archive of both and the files.
#
# usage: pkgdb-mkpacman.sh OUTDIR TREE NAME VERSION [PKGINFO-LINE...]
# writes OUTDIR/NAME-VERSION-any.pkg.tar.gz from the files under TREE; each
# PKGINFO-LINE ("backup = etc/x.conf", "packager = ...") is added as given.
set -e
out=$(cd "$1" && pwd)
tree=$2
name=$3
version=$4
shift 4
cd "$tree"
{
	echo "pkgname = $name"
	echo "pkgbase = $name"
	echo "pkgver = $version"
	echo "pkgdesc = reforge test package"
	echo "url = https://example.org/"
	echo "builddate = 1700000000"
	echo "size = $(du -sb . | cut -f1)"
	echo "arch = any"
	for line; do
		echo "$line"
	done
} > .PKGINFO
list() {
	printf '.PKGINFO\0'
	find . -mindepth 1 ! -name .PKGINFO ! -name .MTREE -print0 |
		sed -z 's#^\./##' | LC_ALL=C sort -z
}
list | LANG=C bsdtar -cnf - --null -T - --format=mtree \
	--options='!all,use-set,type,uid,gid,mode,time,size,md5,sha256,link' |
	gzip -c -f -n > .MTREE
{ printf '.MTREE\0'; list; } | LANG=C bsdtar -cnf - --null -T - |
	gzip -c -f -n > "$out/$name-$version-any.pkg.tar.gz"
