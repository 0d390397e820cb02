#!/bin/sh
# reforge-scan must not change the tree it scans: the atime, mtime, ctime
# and inode of every file and directory are the same before and after.
. "$(dirname "$0")/lib.sh"
need dpkg-deb dpkg stat
scratch
R="$T/root"
new_dpkg_root "$R"
P="$T/pkgs"
mkdir -p "$P/rf-ro/usr/share/ro" "$P/rf-ro/etc"
for i in 1 2 3 4 5; do echo "file $i" >"$P/rf-ro/usr/share/ro/f$i"; done
echo "conf" >"$P/rf-ro/etc/ro.conf"
make_deb "$P" rf-ro 1 /etc/ro.conf
dpkg --root="$R" --force-not-root -i "$P/rf-ro.deb" >/dev/null 2>&1 || fail "dpkg -i failed"
mkdir -p "$R/home/u/dir"
echo data >"$R/home/u/dir/file"
ln -s file "$R/home/u/dir/link"
dd if=/dev/urandom of="$R/home/u/big" bs=1M count=3 2>/dev/null
echo "changed" >>"$R/usr/share/ro/f1"

# the paths to watch, listed before anything is made old
(cd "$R" && find . -print0) >"$T/paths"
# atimes far in the past and older than mtimes: any read would now update
# them, under relatime as under strictatime
(cd "$R" && xargs -0 touch -h -a -d '2001-01-01 00:00:00' <"$T/paths")
listing() {
	(cd "$R" && xargs -0 stat -c '%n %i %X %Y %Z %s %a' <"$T/paths")
}
listing >"$T/before"

# can this filesystem show a read at all? (noatime mounts cannot)
canary="$T/canary"
echo x >"$canary"
touch -a -d '2001-01-01 00:00:00' "$canary"
cat "$canary" >/dev/null
atime_works=yes
[ "$(stat -c %X "$canary")" -gt 1000000000 ] && [ "$(stat -c %X "$canary")" != "$(date -d '2001-01-01 00:00:00' +%s)" ] || atime_works=no

"$SCAN" -q --root "$R" --report "$T/report.xml" --changes="$T/changes" >/dev/null ||
	fail "reforge-scan failed"
listing >"$T/after"
if [ "$atime_works" = yes ]; then
	diff -u "$T/before" "$T/after" || fail "the scan changed the scanned tree"
else
	echo "note: this filesystem does not update atimes; comparing the rest" >&2
	cut -d' ' -f1,2,4- "$T/before" >"$T/b2"
	cut -d' ' -f1,2,4- "$T/after" >"$T/a2"
	diff -u "$T/b2" "$T/a2" || fail "the scan changed the scanned tree"
fi
# and it did read the files: the modified one was found
grep -q '^modified	content	/usr/share/ro/f1$' "$T/changes" || fail "the scan did not read the files"
echo "PASS: scan-readonly"
