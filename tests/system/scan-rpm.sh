#!/bin/sh
# reforge-scan's verdicts on the package files of an rpm root agree with
# rpm -Va on the same root: packages built with rpmbuild, installed with
# rpm --root, then changed in every way rpm -V looks at (and in ways it is
# told not to look at); the paths both tools flag are compared.
set -eu

scan=${top_builddir:?}/reforge-scan
for tool in rpm rpmbuild; do
	command -v $tool >/dev/null 2>&1 || {
		echo "SKIP: $tool is not installed"
		exit 77
	}
done
# rpm --root chowns what it installs, and the test chowns files
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rf-scan-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

cat > "$work/main.spec" <<'EOF'
Name: rfsys
Version: 1.0
Release: 1
Summary: reforge system test package
License: GPL
Vendor: Reforge Test
BuildArch: noarch
%description
test
%install
d=%{buildroot}
mkdir -p $d/etc/rfsys $d/usr/bin $d/usr/share/rfsys/dir $d/usr/share/rfsys/todir $d/var/lib/rfsys
for f in content samesize mode owner group deleted touched intact tofile \
	shared; do
	echo "$f" > $d/usr/share/rfsys/$f
done
echo a > $d/etc/rfsys/a.conf
echo b > $d/etc/rfsys/b.conf
echo opt > $d/etc/rfsys/opt.conf
echo doc > $d/usr/share/rfsys/README
echo state > $d/var/lib/rfsys/state
printf '#!/bin/sh\necho hi\n' > $d/usr/bin/rfsys
ln -s ../share/rfsys/intact $d/usr/bin/rfsys-link
ln -s ../share/rfsys/intact $d/usr/bin/rfsys-same
touch $d/etc/rfsys/ghost.log $d/etc/rfsys/ghost2.log
%files
%dir /etc/rfsys
%config /etc/rfsys/a.conf
%config(noreplace) /etc/rfsys/b.conf
%config(missingok) /etc/rfsys/opt.conf
%ghost /etc/rfsys/ghost.log
%ghost /etc/rfsys/ghost2.log
%attr(0755,root,root) /usr/bin/rfsys
/usr/bin/rfsys-link
/usr/bin/rfsys-same
%dir /usr/share/rfsys
/usr/share/rfsys/dir
/usr/share/rfsys/todir
/usr/share/rfsys/content
/usr/share/rfsys/samesize
/usr/share/rfsys/mode
/usr/share/rfsys/owner
/usr/share/rfsys/group
/usr/share/rfsys/deleted
/usr/share/rfsys/touched
/usr/share/rfsys/intact
/usr/share/rfsys/tofile
/usr/share/rfsys/shared
%doc /usr/share/rfsys/README
%dev(c, 1, 3) %attr(0666,root,root) /usr/share/rfsys/chr
%dev(c, 1, 5) %attr(0666,root,root) /usr/share/rfsys/chrok
%dir /var/lib/rfsys
%attr(0640,rfuser,rfgroup) %verify(not md5 size mtime) /var/lib/rfsys/state
EOF
cat > "$work/other.spec" <<'EOF'
Name: rfother
Version: 2
Release: 1
Summary: shares a directory and a file with rfsys
License: GPL
BuildArch: noarch
%description
test
%install
mkdir -p %{buildroot}/usr/share/rfsys
echo shared > %{buildroot}/usr/share/rfsys/shared
%files
%dir /usr/share/rfsys
/usr/share/rfsys/shared
EOF
for spec in main other; do
	rpmbuild -bb --quiet --define "_topdir $work/top" "$work/$spec.spec" \
		>/dev/null 2>&1
done

mkdir -p "$root/etc"
printf 'root:x:0:0:root:/root:/bin/sh\nrfuser:x:1234:1234::/:/bin/false\n' \
	> "$root/etc/passwd"
printf 'root:x:0:\nrfgroup:x:1234:\n' > "$root/etc/group"
rpm --root "$root" --dbpath /var/lib/rpm -i --nodeps --noscripts \
	"$work"/top/RPMS/noarch/*.rpm 2>/dev/null

# The paths rpm -Va flags (missing or changed), one a line, sorted.
rpm_flags() {
	rpm --root "$root" --dbpath /var/lib/rpm -Va --nodeps --noscripts \
		2>/dev/null | sed 's|^[^/]*||' | LC_ALL=C sort -u || true
}
# The paths reforge-scan flags modified or missing, one a line, sorted.
# The scan only reads: the database files are as it found them.
db_state() {
	find "$root/var/lib/rpm" -printf '%p %s %m %T@ %C@\n' | LC_ALL=C sort
	find "$root/var/lib/rpm" -type f -exec sha256sum {} + | LC_ALL=C sort
}
scan_flags() {
	db_state > "$work/db.before"
	"$scan" --quiet --root "$root" --changes > "$work/changes" \
		2> "$work/scan.err" || { cat "$work/scan.err" >&2; exit 1; }
	db_state > "$work/db.after"
	if ! cmp -s "$work/db.before" "$work/db.after"; then
		echo "FAIL: reforge-scan changed the rpm database" >&2
		diff -u "$work/db.before" "$work/db.after" >&2 || true
		exit 1
	fi
	awk -F '\t' '$1 == "modified" || $1 == "missing" { print $3 }' \
		"$work/changes" | LC_ALL=C sort -u
}
compare() {
	rpm_flags > "$work/rpm.txt"
	scan_flags > "$work/scan.txt"
	if ! cmp -s "$work/rpm.txt" "$work/scan.txt"; then
		echo "FAIL ($1): rpm -Va and reforge-scan disagree" >&2
		diff -u "$work/rpm.txt" "$work/scan.txt" >&2 || true
		exit 1
	fi
}

# untouched, nothing is flagged by either
compare "fresh install"
test ! -s "$work/rpm.txt" || { echo "FAIL: rpm flags a fresh root" >&2; exit 1; }

s=$root/usr/share/rfsys
echo more >> "$s/content"                       # digest, size, mtime
touch -r "$s/samesize" "$work/mtime"             # digest only:
printf 'SAMESIZE\n' > "$s/samesize"             # same size and mtime
touch -r "$work/mtime" "$s/samesize"
chmod 600 "$s/mode"                             # mode
chown 1234 "$s/owner"                           # user
chgrp 1234 "$s/group"                           # group
rm "$s/deleted"                                 # missing
touch -d 2001-01-01 "$s/touched"                # mtime only
touch -d 2001-01-01 "$s/shared"                 # two owners: rpm ignores
ln -sfn ../share/rfsys/content "$root/usr/bin/rfsys-link"   # link target
rm "$root/usr/bin/rfsys-same"                   # symlink recreated as it was
ln -s ../share/rfsys/intact "$root/usr/bin/rfsys-same"
rm -r "$s/dir" && echo x > "$s/dir"             # directory became a file
rm "$s/tofile" && mkdir "$s/tofile"             # file became a directory
chmod 700 "$s/todir"                            # directory mode
echo edited >> "$root/etc/rfsys/a.conf"         # %config
rm "$root/etc/rfsys/opt.conf"                   # %config(missingok): fine
echo x > "$root/etc/rfsys/ghost2.log"           # %ghost: content is free,
chmod 600 "$root/etc/rfsys/ghost2.log"          # its mode is not
rm "$s/README"                                  # %doc: missing
echo more >> "$root/var/lib/rfsys/state"        # %verify(not md5 size mtime)
rm "$s/chr" && mknod -m 0666 "$s/chr" c 1 7     # device number

compare "after changes"
cat > "$work/expected.txt" <<EOF
/etc/rfsys/a.conf
/etc/rfsys/ghost2.log
/usr/bin/rfsys-link
/usr/share/rfsys/README
/usr/share/rfsys/chr
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
if ! cmp -s "$work/expected.txt" "$work/rpm.txt"; then
	echo "FAIL: rpm -Va does not flag what the test changed" >&2
	diff -u "$work/expected.txt" "$work/rpm.txt" >&2 || true
	exit 1
fi

# what reforge-scan says about each: the attributes rpm -V compares
detail() {
	awk -F '\t' -v p="$1" '$3 == p { print $1 " " $2 }' "$work/changes"
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
check /usr/share/rfsys/samesize 'modified content'
check /usr/share/rfsys/mode 'modified mode'
check /usr/share/rfsys/owner 'modified owner'
check /usr/share/rfsys/group 'modified group'
check /usr/share/rfsys/deleted 'missing*'
check /usr/share/rfsys/touched 'modified mtime'
check /usr/bin/rfsys-link 'modified *target*'
check /usr/share/rfsys/dir 'modified type*'
check /usr/share/rfsys/tofile 'modified type*'
check /etc/rfsys/a.conf 'modified *content*conffile*'
check /etc/rfsys/ghost2.log 'modified mode*'
check /usr/share/rfsys/chr 'modified rdev'

echo "PASS: reforge-scan and rpm -Va agree on $(wc -l < "$work/rpm.txt") paths"
