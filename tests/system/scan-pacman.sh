#!/bin/sh
# reforge-scan's verdicts on the package files of a pacman root agree with
# pacman -Qkk on the same root: packages made as makepkg makes them
# (tests/pkgdb-mkpacman.sh), installed with pacman --root -U, then changed
# in every way pacman -Qkk looks at; the paths both tools flag are compared.
#
# One difference is kept on purpose and checked as such: pacman compares
# the mtime of symlinks, so a symlink recreated with the same target is
# flagged by pacman alone.
set -eu

scan=${top_builddir:?}/reforge-scan
mkpkg=${top_srcdir:?}/tests/pkgdb-mkpacman.sh
for tool in pacman bsdtar; do
	command -v $tool >/dev/null 2>&1 || {
		echo "SKIP: $tool is not installed"
		exit 77
	}
done
# pacman -U refuses to run as anyone else; the test chowns files
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rf-scan-pacman.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
cd "$work"
printf '[options]\nArchitecture = auto\nSigLevel = Never\nLocalFileSigLevel = Never\nNoExtract = usr/share/rfsys/noextract\n' \
	> pacman.conf
mkdir -p pkgs cache

t=$work/tree-rfsys
mkdir -p "$t/etc/rfsys" "$t/usr/bin" "$t/usr/share/rfsys/dir" \
	"$t/usr/share/rfsys/todir" "$t/var/lib/rfsys"
for f in content samesize mode owner group deleted touched intact tofile \
	noextract; do
	echo "$f" > "$t/usr/share/rfsys/$f"
done
echo conf > "$t/etc/rfsys/rfsys.conf"
echo conf2 > "$t/etc/rfsys/kept.conf"
printf '#!/bin/sh\necho hi\n' > "$t/usr/bin/rfsys"
chmod 755 "$t/usr/bin/rfsys"
ln -s ../share/rfsys/intact "$t/usr/bin/rfsys-link"
ln -s ../share/rfsys/intact "$t/usr/bin/rfsys-same"
echo state > "$t/var/lib/rfsys/state"
chown 1234:1234 "$t/var/lib/rfsys/state"
"$mkpkg" pkgs "$t" rfsys 1.0-1 'backup = etc/rfsys/rfsys.conf' \
	'backup = etc/rfsys/kept.conf'
t=$work/tree-rfother
mkdir -p "$t/usr/share/rfsys"
echo other > "$t/usr/share/rfsys/other"
"$mkpkg" pkgs "$t" rfother 2-1

mkdir -p "$root/etc" "$root/var/lib/pacman"
printf 'root:x:0:0:root:/root:/bin/sh\nrfuser:x:1234:1234::/:/bin/false\n' \
	> "$root/etc/passwd"
printf 'root:x:0:\nrfgroup:x:1234:\n' > "$root/etc/group"
cp pacman.conf "$root/etc/pacman.conf"   # NoExtract: never extracted
pacman --root "$root" --dbpath "$root/var/lib/pacman" --config pacman.conf \
	--logfile pacman.log --cachedir cache --noconfirm --noprogressbar \
	-U pkgs/rfsys-1.0-1-any.pkg.tar.gz pkgs/rfother-2-1-any.pkg.tar.gz \
	>/dev/null 2>&1

# The paths pacman -Qkk flags, backup files' changes included, sorted.
pacman_flags() {
	pacman --root "$root" --dbpath "$root/var/lib/pacman" \
		--config pacman.conf -Qkk > pacman.out 2>&1 || true
	sed -n 's/^\(warning\|backup file\): [^ ]*: \(.*\) ([^()]*)$/\2/p' \
		pacman.out | sed "s|^$root/*|/|" | LC_ALL=C sort -u
}
# The scan only reads: the database is as it found it.
db_state() {
	find "$root/var/lib/pacman" -printf '%p %s %m %T@ %C@\n' | LC_ALL=C sort
	find "$root/var/lib/pacman" -type f -exec sha256sum {} + | LC_ALL=C sort
}
# The paths reforge-scan flags modified or missing, sorted.
scan_flags() {
	db_state > db.before
	"$scan" --quiet --root "$root" --changes > changes 2> scan.err ||
		{ cat scan.err >&2; exit 1; }
	db_state > db.after
	if ! cmp -s db.before db.after; then
		echo "FAIL: reforge-scan changed the pacman database" >&2
		diff -u db.before db.after >&2 || true
		exit 1
	fi
	awk -F '\t' '$1 == "modified" || $1 == "missing" { print $3 }' \
		changes | LC_ALL=C sort -u
}
# Compare, leaving out the paths of the differences kept on purpose.
compare() {
	pacman_flags | grep -vxF -e "${2:-}" > pacman.txt || true
	scan_flags | grep -vxF -e "${3:-}" > scan.txt || true
	if ! cmp -s pacman.txt scan.txt; then
		echo "FAIL ($1): pacman -Qkk and reforge-scan disagree" >&2
		diff -u pacman.txt scan.txt >&2 || true
		cat pacman.out >&2
		exit 1
	fi
}

compare "fresh install"
test ! -e "$root/usr/share/rfsys/noextract"
if [ -s pacman.txt ]; then
	echo "FAIL: pacman -Qkk flags a fresh root" >&2
	cat pacman.out >&2
	exit 1
fi

s=$root/usr/share/rfsys
echo more >> "$s/content"                       # size, mtime
touch -r "$s/samesize" "$work/mtime"            # content only: same size
printf 'SAMESIZE\n' > "$s/samesize"             # and mtime
touch -r "$work/mtime" "$s/samesize"
chmod 600 "$s/mode"                             # permissions
chown 1234 "$s/owner"                           # uid
chgrp 1234 "$s/group"                           # gid
rm "$s/deleted"                                 # missing
touch -d 2001-01-01 "$s/touched"                # mtime only
ln -sfn ../share/rfsys/content "$root/usr/bin/rfsys-link"   # link target
rm "$root/usr/bin/rfsys-same"                   # recreated as it was
ln -s ../share/rfsys/intact "$root/usr/bin/rfsys-same"
touch -h -d 2001-01-01 "$root/usr/bin/rfsys-same"
rm -r "$s/dir" && echo x > "$s/dir"             # directory became a file
rm "$s/tofile" && mkdir "$s/tofile"             # file became a directory
chmod 700 "$s/todir"                            # directory permissions
echo edited >> "$root/etc/rfsys/rfsys.conf"     # a backup file

compare "after changes" /usr/bin/rfsys-same
cat > expected.txt <<EOF
/etc/rfsys/rfsys.conf
/usr/bin/rfsys-link
/usr/share/rfsys/content
/usr/share/rfsys/deleted
/usr/share/rfsys/dir
/usr/share/rfsys/group
/usr/share/rfsys/mode
/usr/share/rfsys/owner
/usr/share/rfsys/samesize
/usr/share/rfsys/todir
/usr/share/rfsys/tofile
/usr/share/rfsys/touched
EOF
if ! cmp -s expected.txt pacman.txt; then
	echo "FAIL: pacman -Qkk does not flag what the test changed" >&2
	diff -u expected.txt pacman.txt >&2 || true
	exit 1
fi

detail() {
	awk -F '\t' -v p="$1" '$3 == p { print $1 " " $2 }' changes
}
check() {
	got=$(detail "$1")
	case "$got" in
	$2) ;;
	*)
		echo "FAIL: $1: '$got', expected '$2'" >&2
		exit 1
		;;
	esac
}
check /usr/share/rfsys/content 'modified *content*size*'
check /usr/share/rfsys/mode 'modified mode'
check /usr/share/rfsys/owner 'modified owner'
check /usr/share/rfsys/group 'modified group'
check /usr/share/rfsys/deleted 'missing*'
check /usr/share/rfsys/touched 'modified mtime'
check /usr/bin/rfsys-link 'modified *target*'
check /usr/share/rfsys/dir 'modified type*'
check /usr/share/rfsys/tofile 'modified type*'
check /etc/rfsys/rfsys.conf 'modified *content*conffile*'
check /usr/share/rfsys/samesize 'modified content'
check /var/lib/rfsys/state ''
# the difference kept on purpose
check /usr/bin/rfsys-same ''
grep -q 'rfsys-same (Modification time mismatch)' pacman.out || {
	echo "FAIL: pacman -Qkk no longer compares symlink mtimes" >&2
	exit 1
}

echo "PASS: reforge-scan and pacman -Qkk agree on $(wc -l < pacman.txt) paths"
