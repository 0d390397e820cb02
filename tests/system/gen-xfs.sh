#!/bin/sh
# reforge-gen on a source whose root filesystem is xfs (its etc/fstab says
# so; the scanner takes the storage of a --root from there), then btrfs:
# the partition must be made with the type's own tools, without mounting
# anything, and hold the files. xfs is checked with xfs_repair -n and read
# with xfs_db; what mkfs.xfs -p cannot carry (hardlinks, xattrs, a name
# with a blank) must be reported, not lost in silence. btrfs is checked
# with btrfs check and extracted with btrfs restore for the fidelity
# check. Two packages ship the same path (dpkg --force-overwrite on the
# source): the later one's file must win whatever --jobs is.
. "$(dirname "$0")/gen-lib.sh"
need dpkg-deb dpkg bsdtar mkfs.xfs xfs_db xfs_repair setfattr getfattr \
	python3
[ "$(id -u)" -eq 0 ] || skip "owners and device nodes need root"
scratch
R="$T/root"
new_dpkg_root "$R"

P="$T/pkgs"
mkdir -p "$P/rf-one/usr/bin" "$P/rf-one/usr/share/shared" \
	"$P/rf-two/usr/share/shared"
printf '#!/bin/sh\necho one\n' >"$P/rf-one/usr/bin/one"
chmod 4755 "$P/rf-one/usr/bin/one"
echo one >"$P/rf-one/usr/share/shared/same.txt"
echo data >"$P/rf-one/usr/share/shared/a.txt"
ln "$P/rf-one/usr/share/shared/a.txt" "$P/rf-one/usr/share/shared/b.txt"
echo two >"$P/rf-two/usr/share/shared/same.txt"
# old times, so that a time of the generation run cannot pass for them
touch -d '2001-02-03 04:05:06' "$P/rf-one/usr/bin/one"
make_deb "$P" rf-one 1.0
make_deb "$P" rf-two 1.0
mkdir "$T/repo"
cp "$P/rf-one.deb" "$P/rf-two.deb" "$T/repo/"
dpkg --root="$R" --force-not-root --force-depends --force-overwrite \
	-i "$P/rf-one.deb" "$P/rf-two.deb" >"$T/dpkg.log" 2>&1 ||
	{ cat "$T/dpkg.log"; fail "dpkg failed"; }
mkdir -p "$R/etc" "$R/srv/tmp" "$R/srv/odd" "$R/home/u"
echo 'UUID=0b1c8f2e-6f0e-4c43-9d2b-3f2d6f0e4c43 / xfs defaults 0 1' \
	>"$R/etc/fstab"
chmod 1777 "$R/srv/tmp"
echo mine >"$R/srv/odd/tool"
setfattr -n user.rf -v hello "$R/srv/odd/tool" || fail "setfattr failed"
printf 'x' >"$R/srv/odd/with space"
mkfifo "$R/srv/odd/fifo"
mknod "$R/srv/odd/null" c 1 3
ln -s /nonexistent "$R/srv/odd/dangling"
echo u >"$R/home/u/file"
chown -R 1000:1000 "$R/home/u"
chmod 2750 "$R/home/u"
touch -d '2002-03-04 05:06:07' "$R/srv/odd/tool" "$R/home/u" "$R/srv/tmp"
"$SCAN" -q --root "$R" --report "$T/src.xml" >/dev/null 2>"$T/scan.err" ||
	{ cat "$T/scan.err"; fail "reforge-scan of the source failed"; }
grep -q 'type="xfs"' "$T/src.xml" || fail "the report has no xfs root"
make_overlay "$R" "$T/src.xml" "$T/overlay.tar"

# gen TYPE JOBS OUT [REPORT]: a raw image; prints its exit status
gen() {
	"$GEN" --target none --report "${4:-$T/src.xml}" \
		--overlay "$T/overlay.tar" --repo "file://$T/repo" --format raw \
		--tmpdir "$T" --jobs "$2" --json -o "$3" >"$3.json" 2>"$3.err"
	echo $?
}

# --- xfs ---
rc=$(gen xfs 2 "$T/xfs.raw")
[ "$rc" = 3 ] || { cat "$T/xfs.raw.err"; fail "xfs: exit $rc, not 3 (warnings)"; }
python3 - "$T/xfs.raw.json" <<'PY' || fail "xfs: unexpected --json"
import json, sys
d = json.load(open(sys.argv[1]))
p = d['partitions'][0]
assert p['type'] == 'xfs' and p['mountpoint'] == '/', p
n = p['note']
assert 'hardlinks became copies' in n and 'xattrs' in n, n
assert '/srv/odd/with space' in n, n
for k in ('unpack', 'overlay', 'metadata', 'mkfs', 'write'):
    assert d['phases'][k] >= 0, d['phases']
PY
grep -q 'with space' "$T/xfs.raw.err" || fail "xfs: the lost name is not named"
ls "$T" | grep -q '^reforge-gen\.' && fail "the staging directory was left behind"
part "$T/xfs.raw" "$T/xfs.img"
xfs_repair -n "$T/xfs.img" >"$T/repair.log" 2>&1 ||
	{ cat "$T/repair.log"; fail "xfs_repair -n found errors"; }
xdb() { xfs_db -r "$@" "$T/xfs.img" 2>&1; }
xdb -c 'ls /srv/odd' >"$T/ls.txt"
for n in tool fifo null dangling; do
	grep -q " $n (good)" "$T/ls.txt" || { cat "$T/ls.txt"; fail "xfs: /srv/odd/$n missing"; }
done
grep -q 'with' "$T/ls.txt" && fail "xfs: a half name was made"
# field FILE FIELD: an inode field of FILE as xfs_db prints it
field() { xdb -c "path $1" -c "print $2" | sed -n "s/^$2 = //p"; }
[ "$(field /srv/tmp core.mode)" = 041777 ] || fail "xfs: the sticky bit is lost"
[ "$(field /usr/bin/one core.mode)" = 0104755 ] || fail "xfs: setuid lost"
[ "$(field /home/u core.mode)" = 042750 ] || fail "xfs: setgid dir mode"
[ "$(field /home/u core.uid)" = 1000 ] || fail "xfs: owner lost"
[ "$(field /home/u/file core.gid)" = 1000 ] || fail "xfs: group lost"
[ "$(field /srv/odd/null core.mode)" = 020600 ] ||
	[ "$(field /srv/odd/null core.mode)" = 020644 ] ||
	fail "xfs: /srv/odd/null is not a character device: $(field /srv/odd/null core.mode)"
[ "$(field /usr/share/shared/same.txt core.size)" = 4 ] ||
	fail "xfs: same.txt has not the later package's size"
# the later package's bytes: the file's first block
xdb -c 'path /usr/share/shared/same.txt' -c 'dblock 0' -c 'type data' \
	-c 'print' | head -1 | grep -q '74776f0a' ||
	fail "xfs: same.txt is not the later package's: $(xdb -c 'path /usr/share/shared/same.txt' -c 'dblock 0' -c 'type data' -c print | head -1)"
[ "$(field /srv/odd/dangling core.size)" = 12 ] || fail "xfs: symlink target"
# mtimes, set with xfs_db after mkfs.xfs, as the source's
for f in /srv/odd/tool /home/u /usr/bin/one /srv/tmp; do
	want=$(TZ=UTC date -d "@$(stat -c %Y "$R$f")" '+%a %b %e %H:%M:%S %Y')
	got=$(TZ=UTC field "$f" core.mtime.sec)
	[ "$got" = "$want" ] || fail "xfs: mtime of $f: $got, not $want"
done

# --- btrfs: the same source with btrfs in its storage ---
if command -v mkfs.btrfs >/dev/null && command -v btrfs >/dev/null; then
	sed 's/type="xfs"/type="btrfs"/' "$T/src.xml" >"$T/btrfs.xml"
	for j in 1 3; do
		rc=$(gen btrfs $j "$T/btrfs$j.raw" "$T/btrfs.xml")
		[ "$rc" = 0 ] || { cat "$T/btrfs$j.raw.err"; fail "btrfs --jobs $j: exit $rc"; }
		grep -q '"type":"btrfs"' "$T/btrfs$j.raw.json" ||
			fail "btrfs: not a btrfs partition: $(cat "$T/btrfs$j.raw.json")"
		part "$T/btrfs$j.raw" "$T/btrfs$j.img"
		btrfs check --readonly "$T/btrfs$j.img" >"$T/check.log" 2>&1 ||
			{ cat "$T/check.log"; fail "btrfs check found errors"; }
		mkdir "$T/ex$j"
		btrfs restore -m -x -S "$T/btrfs$j.img" "$T/ex$j" >"$T/restore.log" 2>&1 ||
			{ cat "$T/restore.log"; fail "btrfs restore failed"; }
		[ "$(cat "$T/ex$j/usr/share/shared/same.txt")" = two ] ||
			fail "btrfs --jobs $j: same.txt is not the later package's"
		[ "$(getfattr --only-values -n user.rf "$T/ex$j/srv/odd/tool" 2>/dev/null)" = hello ] ||
			fail "btrfs: user.rf lost"
	done
	# restore recreates what it reads; the fidelity of names, types,
	# modes, owners, sizes, contents and targets holds. Times are read on
	# the image itself: btrfs restore may write into a file or directory
	# after it set its times.
	"$SCAN" -q --root "$T/ex3" --report "$T/gen.xml" >/dev/null 2>"$T/scan2.err" ||
		{ cat "$T/scan2.err"; fail "reforge-scan of the btrfs image failed"; }
	compare_reports "$T/src.xml" "$T/gen.xml" >"$T/cmp.txt"
	grep -v ': mtime ' "$T/cmp.txt" && fail "the btrfs image differs from the source"
	btrfs inspect-internal dump-tree -t 5 "$T/btrfs3.img" >"$T/tree.txt" 2>&1 ||
		fail "btrfs inspect-internal dump-tree failed"
	# bmtime NAME: the mtime (seconds) of the inode linked as NAME
	bmtime() {
		_ino=$(awk -v n="name: $1" 'r && index($0, n) && substr($0, length($0) - length(n) + 1) == n { print k; exit }
			{ r = 0 } /INODE_REF [0-9]+\)/ { k = $4; sub(/^\(/, "", k); r = 1 }' "$T/tree.txt")
		grep -A6 "key ($_ino INODE_ITEM 0) itemoff" "$T/tree.txt" |
			sed -n 's/^[[:space:]]*mtime \([0-9]*\)\..*/\1/p'
	}
	for f in /etc /home/u /srv/odd/tool /srv/tmp /usr/bin/one; do
		[ "$(bmtime "${f##*/}")" = "$(stat -c %Y "$R$f")" ] ||
			fail "btrfs: mtime of $f: $(bmtime "${f##*/}"), not $(stat -c %Y "$R$f")"
	done
	diff -r --no-dereference "$T/ex1" "$T/ex3" >"$T/jobs.diff" 2>&1 ||
		{ head "$T/jobs.diff"; fail "--jobs 1 and --jobs 3 differ"; }
else
	echo "gen-xfs: btrfs-progs not installed, btrfs not checked"
fi
# a file too large for mkfs.xfs -p (xfsprogs 6.1 reads it whole): ext4,
# with the reason in the note
truncate -s 1G "$R/srv/big"
"$SCAN" -q --root "$R" --report "$T/big.xml" >/dev/null 2>"$T/scan.err" ||
	{ cat "$T/scan.err"; fail "reforge-scan of the source failed"; }
make_overlay "$R" "$T/big.xml" "$T/overlay.tar"
rc=$(gen xfs 2 "$T/big.raw" "$T/big.xml")
[ "$rc" = 3 ] || { cat "$T/big.raw.err"; fail "big file: exit $rc, not 3"; }
python3 - "$T/big.raw.json" <<'PY' || fail "big file: unexpected --json"
import json, sys
p = json.load(open(sys.argv[1]))['partitions'][0]
assert p['type'] == 'ext4' and p['source_type'] == 'xfs', p
assert 'over what mkfs.xfs -p takes' in p['note'], p
PY
echo "gen-xfs: all checks passed"
