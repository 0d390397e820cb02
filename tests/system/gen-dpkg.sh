#!/bin/sh
# reforge-gen end to end on a dpkg root built at test time: packages made
# with dpkg-deb, served by a Debian repository (dpkg-scanpackages, SHA256
# verified) and by a plain directory of .deb files, installed with dpkg
# --root and then changed; the root is scanned, its overlay made, and the
# image generated. The image must pass qemu-img check and e2fsck, and the
# fidelity check must hold: the generated filesystem, extracted with
# debugfs (no mount, no loop device) and scanned again, has the same
# packages and the same files as the source, xattrs, ACLs and hardlinks
# included. The same through the payload cache (--cache): filled, read,
# damaged entries replaced, trimmed, refused when others may write it.
# Then the failures: a corrupt package, a package no repository has, a
# kill -9 midway.
. "$(dirname "$0")/gen-lib.sh"
need dpkg-deb dpkg dpkg-scanpackages bsdtar qemu-img debugfs e2fsck \
	mke2fs setfattr setfacl python3 zstd
[ "$(id -u)" -eq 0 ] || skip "owners and device nodes need root"
scratch
R="$T/root"
new_dpkg_root "$R"

P="$T/pkgs"
mkdir -p "$P/rf-alpha/usr/bin" "$P/rf-alpha/usr/share/alpha" "$P/rf-alpha/etc"
printf '#!/bin/sh\necho alpha\n' >"$P/rf-alpha/usr/bin/alpha"
chmod 4755 "$P/rf-alpha/usr/bin/alpha"
echo "alpha data" >"$P/rf-alpha/usr/share/alpha/data.txt"
echo "gone" >"$P/rf-alpha/usr/share/alpha/gone.txt"
echo "setting = 1" >"$P/rf-alpha/etc/alpha.conf"
ln -s /usr/bin/alpha "$P/rf-alpha/usr/bin/alpha-abs"
ln "$P/rf-alpha/usr/share/alpha/data.txt" "$P/rf-alpha/usr/share/alpha/data-link.txt"
make_deb "$P" rf-alpha 1.0-1 /etc/alpha.conf
mkdir -p "$P/rf-beta/usr/lib/beta" "$P/rf-beta/usr/share/doc/rf-beta"
echo "beta lib" >"$P/rf-beta/usr/lib/beta/lib.txt"
echo "readme" >"$P/rf-beta/usr/share/doc/rf-beta/README"
make_deb "$P" rf-beta 2.3
# a Debian repository (Packages with SHA256) for alpha, a plain directory
# of .deb files for beta
mkdir -p "$T/repo1" "$T/repo2"
cp "$P/rf-alpha.deb" "$T/repo1/"
cp "$P/rf-beta.deb" "$T/repo2/"
(cd "$T/repo1" && dpkg-scanpackages -m . >Packages 2>/dev/null) ||
	fail "dpkg-scanpackages failed"
grep -q '^SHA256:' "$T/repo1/Packages" || fail "no SHA256 in Packages"

dpkg --root="$R" --force-not-root --force-depends -i "$P/rf-alpha.deb" \
	"$P/rf-beta.deb" >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg failed"; }
# the changes the image must carry
echo "setting = 2" >"$R/etc/alpha.conf"
rm "$R/usr/share/alpha/gone.txt"
chmod 700 "$R/usr/lib/beta"
mkdir -p "$R/opt/app" "$R/srv/odd" "$R/home/u"
echo "mine" >"$R/opt/app/tool"
setfattr -n user.rf -v hello "$R/opt/app/tool" || fail "setfattr failed"
setfacl -m u:1234:r "$R/opt/app/tool" || fail "setfacl failed"
setfacl -d -m g:55:rx "$R/opt/app" || fail "setfacl -d failed"
ln "$R/opt/app/tool" "$R/opt/app/tool-link"
truncate -s 16M "$R/srv/odd/sparse"
printf 'middle' | dd of="$R/srv/odd/sparse" bs=1 seek=8000000 conv=notrunc 2>/dev/null
printf 'x' >"$R/srv/odd/with space"
printf 'x' >"$R/srv/odd/$(printf 'bad\377byte')"
mkfifo "$R/srv/odd/fifo"
mknod "$R/srv/odd/null" c 1 3
ln -s /nonexistent "$R/srv/odd/dangling"
echo "u" >"$R/home/u/file"
chown -R 1000:1000 "$R/home/u"
chmod 2750 "$R/home/u"
printf 'root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nu:x:1000:\n' >"$R/etc/group"

"$SCAN" -q --root "$R" --report "$T/src.xml" >/dev/null 2>"$T/scan.err" ||
	{ cat "$T/scan.err"; fail "reforge-scan of the source failed"; }
make_overlay "$R" "$T/src.xml" "$T/overlay.tar"

# --- generate, check the image ---
"$GEN" --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
	--repo "file://$T/repo1" --repo "file://$T/repo2" --format qcow2 \
	--tmpdir "$T" --json -o "$T/img.qcow2" >"$T/gen.json" 2>"$T/gen.err" ||
	{ cat "$T/gen.err"; fail "reforge-gen failed"; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["table"]=="gpt" and d["packages"]==2 and d["direct"] is True, d' \
	"$T/gen.json" || fail "unexpected --json output: $(cat "$T/gen.json")"
ls "$T" | grep -q '^reforge-gen\.' && fail "the staging directory was left behind"
qemu-img check -q "$T/img.qcow2" || fail "qemu-img check failed"
qemu-img convert -O raw "$T/img.qcow2" "$T/img.raw" || fail "qemu-img convert failed"
part "$T/img.raw" "$T/fs.img"
ext_sound "$T/fs.img" "the image"

# --- fidelity ---
mkdir "$T/ex"
debugfs -R "rdump / $T/ex" "$T/fs.img" >/dev/null 2>&1 || fail "debugfs rdump failed"
"$SCAN" -q --root "$T/ex" --report "$T/gen.xml" >/dev/null 2>"$T/scan2.err" ||
	{ cat "$T/scan2.err"; fail "reforge-scan of the image failed"; }
compare_reports "$T/src.xml" "$T/gen.xml" || fail "the image differs from the source"
check_special "$T/src.xml" "$T/fs.img" || fail "special files or modes differ"
# xattrs and ACLs, which rdump does not restore, read on the filesystem
debugfs -R "ea_get /opt/app/tool user.rf" "$T/fs.img" 2>/dev/null | grep -q hello ||
	fail "user.rf lost"
debugfs -R "ea_list /opt/app/tool" "$T/fs.img" 2>/dev/null | grep -q 'posix_acl_access' ||
	fail "the access ACL was lost"
debugfs -R "ea_list /opt/app" "$T/fs.img" 2>/dev/null | grep -q 'posix_acl_default' ||
	fail "the default ACL was lost"
# hardlinks: the same inode
ino() { debugfs -R "stat $1" "$T/fs.img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
[ "$(ino /opt/app/tool)" = "$(ino /opt/app/tool-link)" ] || fail "overlay hardlink broken"
[ "$(ino /usr/share/alpha/data.txt)" = "$(ino /usr/share/alpha/data-link.txt)" ] ||
	fail "package hardlink broken"
debugfs -R "stat /usr/share/alpha/gone.txt" "$T/fs.img" 2>&1 | grep -q 'File not found' ||
	fail "a file missing on the source is in the image"

# --- the payload cache: filled by one run, read by the next; a damaged
# entry is found, removed, and the package unpacked from its file ---
# same_tree RAW TAG [SOURCE-REPORT]: the image's filesystem, rescanned,
# equals the source
same_tree() {
	_src=${3:-$T/src.xml}
	part "$1" "$T/$2.fs"
	ext_sound "$T/$2.fs" "$2"
	mkdir "$T/$2.ex"
	debugfs -R "rdump / $T/$2.ex" "$T/$2.fs" >/dev/null 2>&1 || fail "$2: rdump failed"
	"$SCAN" -q --root "$T/$2.ex" --report "$T/$2.xml" >/dev/null 2>&1 ||
		fail "$2: reforge-scan of the image failed"
	compare_reports "$_src" "$T/$2.xml" || fail "$2: the image differs from the source"
}
# the same through a staged tree and mke2fs -d (--staged), the path of
# every run that tunes the image
"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
	--repo "file://$T/repo1" --repo "file://$T/repo2" --format raw --staged \
	--tmpdir "$T" --json -o "$T/staged.raw" >"$T/staged.json" 2>"$T/staged.err" ||
	{ cat "$T/staged.err"; fail "reforge-gen --staged failed"; }
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["direct"] is False' \
	"$T/staged.json" || fail "--staged filled the filesystem directly"
same_tree "$T/staged.raw" staged
check_special "$T/src.xml" "$T/staged.fs" || fail "staged: special files or modes differ"
debugfs -R "ea_get /opt/app/tool user.rf" "$T/staged.fs" 2>/dev/null | grep -q hello ||
	fail "staged: user.rf lost"
debugfs -R "ea_list /opt/app" "$T/staged.fs" 2>/dev/null | grep -q 'posix_acl_default' ||
	fail "staged: the default ACL was lost"
[ "$(debugfs -R "stat /opt/app/tool" "$T/staged.fs" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')" = \
	"$(debugfs -R "stat /opt/app/tool-link" "$T/staged.fs" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p')" ] ||
	fail "staged: a hardlink broken"
# cache_run TAG HITS MISSES STORED DAMAGED
cache_run() {
	"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
		--repo "file://$T/repo1" --repo "file://$T/repo2" --format raw \
		--tmpdir "$T" --cache "$T/cache" --json -o "$T/$1.raw" >"$T/$1.json" \
		2>"$T/$1.err" || { cat "$T/$1.err"; fail "$1: reforge-gen --cache failed"; }
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cache"]
want=dict(zip(("hits","misses","stored","damaged"), map(int, sys.argv[2:])))
assert c == want, (c, want)' "$T/$1.json" "$2" "$3" "$4" "$5" ||
		fail "$1: cache counts: $(cat "$T/$1.json")"
	same_tree "$T/$1.raw" "$1"
}
cache_run cold 0 2 2 0
[ "$(stat -c %a "$T/cache")" = 700 ] || fail "the cache is not mode 700"
[ "$(ls "$T/cache" | grep -c '^deb-sha256-[0-9a-f]\{64\}\.zst$')" -eq 2 ] ||
	fail "unexpected cache entries: $(ls -a "$T/cache")"
cache_run warm 2 0 0 0
# alpha's entry damaged in the middle: found, removed, stored again
alpha=$(sed -n 's/^SHA256: //p' "$T/repo1/Packages")
entry="$T/cache/deb-sha256-$alpha.zst"
[ -f "$entry" ] || fail "no cache entry named by the index's SHA-256"
printf 'XXXXXXXX' | dd of="$entry" bs=1 seek=$(($(stat -c %s "$entry") / 2)) \
	conv=notrunc 2>/dev/null
cache_run damaged 2 0 1 1
# truncated: the same
truncate -s 100 "$entry"
cache_run truncated 2 0 1 1
# two runs at once on one empty cache: both fine, both entries whole
rm -rf "$T/cache"
for i in 1 2; do
	"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
		--repo "file://$T/repo1" --repo "file://$T/repo2" --format raw \
		--tmpdir "$T" --cache "$T/cache" -o "$T/twin$i.raw" 2>"$T/twin$i.err" &
done
wait %1 || { cat "$T/twin1.err"; fail "the first of two runs sharing a cache failed"; }
wait %2 || { cat "$T/twin2.err"; fail "the second of two runs sharing a cache failed"; }
for f in "$T"/cache/*; do
	zstd -q -t "$f" || fail "$f: a damaged entry after two runs at once"
done
[ "$(ls "$T/cache" | wc -l)" -eq 2 ] || fail "two runs at once left: $(ls -a "$T/cache")"
same_tree "$T/twin2.raw" twin2
# a full disk under the cache (a tmpfs filled up, in a mount namespace of
# its own): storing fails, the image does not
if unshare --mount --propagation private true 2>/dev/null; then
	mkdir "$T/full"
	unshare --mount --propagation private sh -c '
		mount -t tmpfs -o size=1m,mode=0700 reforge-test "$1" || exit 77
		mkdir -m 700 "$1/cache"
		dd if=/dev/zero of="$1/filler" bs=64k 2>/dev/null
		shift
		exec "$@"' sh "$T/full" "$GEN" -q --target none --report "$T/src.xml" \
		--overlay "$T/overlay.tar" --repo "file://$T/repo1" --repo "file://$T/repo2" \
		--format raw --tmpdir "$T" --cache "$T/full/cache" --json -o "$T/full.raw" \
		>"$T/full.json" 2>"$T/full.err"
	rc=$?
	if [ $rc -ne 77 ]; then
		[ $rc -eq 0 ] || { cat "$T/full.err"; fail "a full cache disk failed the run"; }
		python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cache"]
assert (c["hits"], c["misses"], c["stored"], c["damaged"]) == (0, 2, 0, 0), c' \
			"$T/full.json" || fail "full cache disk: $(cat "$T/full.json")"
		same_tree "$T/full.raw" full
		echo "a full disk under the payload cache: the image made, nothing stored"
	fi
fi
# --cache-max 1: everything goes when the run ends, and the run is fine
"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
	--repo "file://$T/repo1" --repo "file://$T/repo2" --format raw --tmpdir "$T" \
	--cache "$T/cache" --cache-max 1 -o "$T/trim.raw" || fail "--cache-max 1 failed"
[ -z "$(ls "$T/cache")" ] || fail "--cache-max did not trim: $(ls "$T/cache")"
# a cache others may write is refused, before anything is done
mkdir -m 777 "$T/opencache"
chmod 777 "$T/opencache"
"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
	--repo "file://$T/repo1" --repo "file://$T/repo2" --format raw --tmpdir "$T" \
	--cache "$T/opencache" -o "$T/open.raw" 2>"$T/open.err"
[ $? -eq 1 ] || fail "a world-writable cache was not refused"
grep -q 'writable by no one else' "$T/open.err" || fail "unclear message: $(cat "$T/open.err")"
[ -e "$T/open.raw" ] && fail "an image was written with a refused cache"

# --- MBR, raw, --disk-size ---
sed 's|<storage/>|<storage><disk name="sda" size="1" sector-size="512" table="msdos"/></storage>|' \
	"$T/src.xml" >"$T/mbr.xml"
grep -q 'table="msdos"' "$T/mbr.xml" || fail "could not make the MBR report"
"$GEN" -q --target none --report "$T/mbr.xml" --overlay "$T/overlay.tar" --repo "file://$T/repo1" \
	--repo "file://$T/repo2" --format raw --disk-size 300M --tmpdir "$T" \
	-o "$T/mbr.raw" 2>"$T/gen.err" || { cat "$T/gen.err"; fail "reforge-gen (MBR) failed"; }
[ "$(stat -c %s "$T/mbr.raw")" -eq $((300 * 1048576)) ] || fail "--disk-size not kept"
python3 - "$T/mbr.raw" <<'PY' || fail "bad MBR"
import struct, sys
b = open(sys.argv[1], 'rb').read(512)
assert b[510:] == b'\x55\xaa'
status, ptype, lba, n = b[446], b[450], *struct.unpack_from('<II', b, 454)
assert status == 0x80 and ptype == 0x83 and lba == 2048, (status, ptype, lba)
PY

# --- failures ---
# a package whose bytes differ from the index's SHA256
cp -r "$T/repo1" "$T/bad"
printf 'X' | dd of="$T/bad/rf-alpha.deb" bs=1 seek=200 conv=notrunc 2>/dev/null
"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" --repo "file://$T/bad" \
	--repo "file://$T/repo2" --format raw --tmpdir "$T" -o "$T/bad.raw" 2>"$T/bad.err" &&
	fail "a corrupt package was accepted"
grep -q 'SHA-256\|bad archive\|unreadable\|data.tar' "$T/bad.err" ||
	fail "unclear message for a corrupt package: $(cat "$T/bad.err")"
[ -e "$T/bad.raw" ] && fail "an image was written from a corrupt package"
# a package that no repository has
"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" --repo "file://$T/repo1" \
	--format raw --tmpdir "$T" -o "$T/miss.raw" 2>"$T/miss.err"
[ $? -eq 1 ] || fail "a missing package did not fail"
grep -q 'rf-beta' "$T/miss.err" || fail "the missing package is not named"
[ -e "$T/miss.raw" ] && fail "an image was written without its packages"
# several filesystems: /srv and /home on their own, filled straight from
# the streams (all ext4) and through the staged tree (--staged, or /home
# ext3, which has no extents): each sound, holding what is under its mount
# point (its mount point on / an empty directory), the whole the same as
# the source
for t in ext4 ext3; do
	sed 's|<storage/>|<storage><filesystem kind="disk" mountpoint="/" type="ext4" size="1000000000" used="1"/><filesystem kind="disk" mountpoint="/srv" type="ext4" size="100000000" used="1"/><filesystem kind="disk" mountpoint="/home" type="'$t'" size="100000000" used="1"/></storage>|' \
		"$T/src.xml" >"$T/multi-$t.xml"
	grep -q 'mountpoint="/srv"' "$T/multi-$t.xml" || fail "no storage to replace in the report"
done
multi_fs() { # TAG HOME-TYPE [OPTION]
	_home=$2
	"$GEN" -q --target none --report "$T/multi-$_home.xml" --overlay "$T/overlay.tar" \
		--repo "file://$T/repo1" --repo "file://$T/repo2" --format raw \
		--tmpdir "$T" --json -o "$T/$1.raw" ${3:+"$3"} >"$T/$1.json" 2>"$T/$1.err" ||
		{ cat "$T/$1.err"; fail "$1: reforge-gen failed"; }
	python3 - "$T/$1.json" "$1" "$_home" <<'PY' >"$T/$1.parts" || fail "$1: $(cat "$T/$1.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["direct"] is (sys.argv[2] == "multi"), d
fs = [p for p in d["partitions"] if p["mountpoint"]]
assert sorted((p["mountpoint"], p["type"]) for p in fs) == \
    [("/", "ext4"), ("/home", sys.argv[3]), ("/srv", "ext4")], fs
for p in sorted(fs, key=lambda p: len(p["mountpoint"])):
    print(p["number"], p["mountpoint"])
PY
	rm -rf "$T/$1.ex"
	mkdir "$T/$1.ex"
	while read -r n mp; do
		part "$T/$1.raw" "$T/$1.fs$n" "$n"
		ext_sound "$T/$1.fs$n" "$1: $mp"
		if [ "$mp" = / ]; then
			for m in srv home; do
				[ "$(debugfs -R "ls /$m" "$T/$1.fs$n" 2>/dev/null | wc -w)" -le 8 ] ||
					fail "$1: /$m on / is not an empty directory"
			done
		else
			debugfs -R "stat /lost+found" "$T/$1.fs$n" 2>&1 | grep -q 'Type: directory' ||
				fail "$1: $mp has no lost+found"
		fi
		# what rdump writes into a directory changes its mtime: the
		# mount point's, as / has it, is put back
		[ "$mp" = / ] || touch -r "$T/$1.ex$mp" "$T/$1.stamp"
		debugfs -R "rdump / $T/$1.ex$mp" "$T/$1.fs$n" >/dev/null 2>&1 ||
			fail "$1: rdump of $mp failed"
		[ "$mp" = / ] || { rm -rf "$T/$1.ex$mp/lost+found" &&
			touch -r "$T/$1.stamp" "$T/$1.ex$mp"; }
	done <"$T/$1.parts"
	debugfs -R "stat /odd/null" "$T/$1.fs$(sed -n 's| /srv$||p' "$T/$1.parts")" 2>&1 |
		grep -q 'Type: character special' || fail "$1: /srv/odd/null is not on /srv"
	"$SCAN" -q --root "$T/$1.ex" --report "$T/$1.xml" >/dev/null 2>&1 ||
		fail "$1: reforge-scan of the image failed"
	compare_reports "$T/src.xml" "$T/$1.xml" || fail "$1: the image differs from the source"
	rm -rf "$T/$1.ex" "$T/$1.raw" "$T/$1".fs*
}
multi_fs multi ext4
multi_fs multi-staged ext4 --staged
multi_fs multi-ext3 ext3

# a package file the source removed, larger than the filesystem sized from
# the report (--headroom 0): filling it straight from the streams runs out
# of room, and the run stages the tree instead, with the same result
R2="$T/root2"
new_dpkg_root "$R2"
mkdir -p "$P/rf-big/usr/share/big"
head -c 80M /dev/urandom >"$P/rf-big/usr/share/big/blob"
echo keep >"$P/rf-big/usr/share/big/keep"
make_deb "$P" rf-big 1.0
mkdir -p "$T/repo3"
cp "$P/rf-big.deb" "$T/repo3/"
dpkg --root="$R2" --force-not-root --force-depends -i "$P/rf-big.deb" \
	>"$T/dpkg2.log" 2>&1 || { cat "$T/dpkg2.log"; fail "dpkg (rf-big) failed"; }
rm "$R2/usr/share/big/blob"
"$SCAN" -q --root "$R2" --report "$T/big.xml" >/dev/null 2>&1 || fail "reforge-scan (rf-big) failed"
make_overlay "$R2" "$T/big.xml" "$T/big-overlay.tar"
"$GEN" -q --target none --report "$T/big.xml" --overlay "$T/big-overlay.tar" \
	--repo "file://$T/repo3" --headroom 0 --format raw --tmpdir "$T" --json \
	-o "$T/big.raw" >"$T/big.json" 2>"$T/big.err" ||
	{ cat "$T/big.err"; fail "reforge-gen (rf-big) failed"; }
grep -q 'staging the tree instead' "$T/big.err" ||
	fail "a full filesystem did not fall back to the staged tree: $(cat "$T/big.err")"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["direct"] is False' \
	"$T/big.json" || fail "rf-big: --json says direct"
same_tree "$T/big.raw" big "$T/big.xml"
[ -e "$T/big.ex/usr/share/big/keep" ] && [ ! -e "$T/big.ex/usr/share/big/blob" ] ||
	fail "rf-big: the image holds the wrong files"
rm -rf "$P/rf-big" "$P/rf-big.deb" "$T/repo3" "$T/big.raw" "$T/big.fs" "$T/big.ex"
ls "$T" | grep -q '^reforge-gen\.' && fail "the fallback left its staging directory"

# killed midway (while it reads an overlay that stalls half way, its
# packages unpacked): no image under its name; the next run reclaims the
# staging space. Staged (the tree is there to see) and filled straight
# from the streams (the packages' cache entries say they were read).
killed_midway() {
	rm -rf "$T/killcache" "$T/stall"
	mkfifo "$T/stall"
	(head -c 20000 "$T/overlay.tar"; sleep 60) >"$T/stall" &
	feeder=$!
	"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/stall" --repo "file://$T/repo1" \
		--repo "file://$T/repo2" --format qcow2 --tmpdir "$T" --cache "$T/killcache" \
		"$@" -o "$T/killed.qcow2" 2>/dev/null &
	pid=$!
	i=0
	until if [ "$1" = --staged ]; then
		ls "$T"/reforge-gen.*/root/usr/share/alpha/data.txt
	else
		[ "$(ls "$T"/killcache/*.zst | wc -l)" -eq 2 ]
	fi >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "reforge-gen $*never unpacked its packages"
		sleep 0.05
	done
	kill -9 $pid
	wait $pid 2>/dev/null
	kill $feeder 2>/dev/null
	[ -e "$T/killed.qcow2" ] && fail "a killed run left its image"
	# its payload cache holds whole entries only, nothing half written
	for f in "$T"/killcache/* "$T"/killcache/.[!.]*; do
		[ -e "$f" ] || continue
		case $f in *.zst) zstd -q -t "$f" || fail "$f: a half-written cache entry" ;;
		*) fail "a killed run left $f in its cache" ;;
		esac
	done
	ls "$T" | grep -q '^reforge-gen\.' || fail "the test did not kill a run midway"
	"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" --repo "file://$T/repo1" \
		--repo "file://$T/repo2" --format raw --tmpdir "$T" -o "$T/again.raw" ||
		fail "the run after a killed one failed"
	ls "$T" | grep -q '^reforge-gen\.' && fail "a killed run's staging was not reclaimed"
}
killed_midway --staged
killed_midway
"$GEN" --help | grep -q Usage || fail "--help"
"$GEN" --target none --report 2>/dev/null; [ $? -eq 2 ] || fail "bad usage is not exit 2"
echo "gen-dpkg: all checks passed"
