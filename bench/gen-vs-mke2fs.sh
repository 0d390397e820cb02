#!/bin/sh
# Benchmark (not a test): reforge-gen against the by-hand pipeline.
#
#   bench/gen-vs-mke2fs.sh [BUILDDIR]
#
# Makes a minimal Debian root with mmdebstrap from this machine's
# configured mirror (keeping the .deb files it used as a file://
# repository), scans it with reforge-scan, makes its overlay (a pax tar of
# the modified and unowned files), then times, warm cache:
#   reforge-gen: every package unpacked from the repository, the overlay
#                applied, metadata set, ext4 made, qcow2 written (--target
#                none: the by-hand pipeline tunes nothing); as it runs by
#                default (staging in memory when it fits, all cores), with
#                the staging on disk, and on one thread, with the time of
#                each phase from --json;
#   by hand:     mke2fs -d of the finished tree into a raw file of the same
#                filesystem size, then qemu-img convert -O qcow2.
# and prints both times and image sizes. Goal: reforge-gen no slower.
# reforge-gen runs with its payload cache (--cache, as the server's jobs
# do): once with the cache empty (it fills it), then with it warm, which
# is how a server that has generated an image of these packages before
# runs; the ratio printed is the warm run's, the cold one is printed too.
# Set REFORGE_BENCH_DIR to reuse a root made earlier (mmdebstrap takes a
# minute or so here).
set -e
B=${1:-$PWD}
W=${REFORGE_BENCH_DIR:-${TMPDIR:-/var/tmp}/reforge-bench-gen}
SUITE=${REFORGE_BENCH_SUITE:-bookworm}
for t in mmdebstrap bsdtar mke2fs qemu-img python3 dpkg-deb; do
	command -v $t >/dev/null || { echo "$t is not installed" >&2; exit 1; }
done
mkdir -p "$W"
if [ ! -d "$W/root/usr" ]; then
	rm -rf "$W/root" "$W/debs"
	mkdir -p "$W/debs"
	mmdebstrap --variant=minbase --skip=download/empty \
		--customize-hook="sync-out /var/cache/apt/archives $W/debs" \
		--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
		"$SUITE" "$W/root" >"$W/mmdebstrap.log" 2>&1
	# mmdebstrap does not keep every package it used (the essential set
	# goes): fetch the exact versions installed
	(cd "$W/debs" && dpkg-query --admindir="$W/root/var/lib/dpkg" -W \
		-f '${Package}:${Architecture}=${Version}\n' |
		xargs apt-get download -q=2) >>"$W/mmdebstrap.log" 2>&1
fi
"$B/reforge-scan" -q --root "$W/root" --report "$W/report.xml" >/dev/null
python3 - "$W/report.xml" >"$W/overlay.list" <<'PY'
import sys, xml.etree.ElementTree as ET
N = '{urn:reforge:report:1}'
for f in ET.parse(sys.argv[1]).getroot().iter(N + 'file'):
    if f.get('class') in ('modified', 'unowned') and f.get('path', '/') != '/':
        print(f.get('path')[1:])
PY
bsdtar -C "$W/root" --format pax --xattrs --acls -n -cf "$W/overlay.tar" \
	-T "$W/overlay.list" 2>/dev/null

now() { date +%s.%N; }
# every output of an earlier run removed first, and its blocks given back
# (a discard-mounted filesystem does that at the next commit, which would
# otherwise land inside a timed run)
rm -f "$W"/gen*.qcow2 "$W/hand.raw" "$W/hand.qcow2"
sync
# warm the cache for both
cat "$W"/debs/*.deb "$W/overlay.tar" >/dev/null
tar -C "$W/root" -cf - . >/dev/null

# gen OUT JSON [OPTIONS...]: one timed reforge-gen run (seconds on stdout)
gen() {
	_out=$1 _json=$2
	shift 2
	sync # the previous run's image written back before this one starts
	_t0=$(now)
	_rc=0
	"$B/generator/reforge-gen" -q --json --target none \
		--report "$W/report.xml" --overlay "$W/overlay.tar" \
		--repo "file://$W/debs" --format qcow2 --no-sync "$@" \
		-o "$_out" >"$_json" || _rc=$?
	_t1=$(now)
	# 3: done with warnings (files of the report the tree lacks)
	[ $_rc -eq 0 ] || [ $_rc -eq 3 ] || { echo "reforge-gen failed" >&2; exit 1; }
	echo "$_t1 - $_t0" | bc
}
# the default: staging where reforge-gen decides (in memory when it fits,
# see --stage-in-memory), packages unpacked on every core; first with the
# payload cache empty, then warm
rm -rf "$W/cache"
cold_t=$(unset TMPDIR; gen "$W/gen-cold.qcow2" "$W/gen-cold.json" --cache "$W/cache")
gen_t=$(unset TMPDIR; gen "$W/gen.qcow2" "$W/gen.json" --cache "$W/cache")
# the same with the staging tree and filesystem files on disk
disk_t=$(gen "$W/gen-disk.qcow2" "$W/gen-disk.json" --tmpdir "$W" --cache "$W/cache")
# in memory, on one thread
one_t=$(gen "$W/gen-1.qcow2" "$W/gen-1.json" --tmpdir /dev/shm --jobs 1 \
	--cache "$W/cache")
# through a staged tree (filled into ext4 by the same writer), as every
# run that tunes the image
staged_t=$(unset TMPDIR; gen "$W/gen-staged.qcow2" "$W/gen-staged.json" --staged \
	--cache "$W/cache")
# the same filesystem size as the generator chose
fssize=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["partitions"][0]["size"])' "$W/gen.json")
sync
t2=$(now)
truncate -s "$fssize" "$W/hand.raw"
mke2fs -q -F -t ext4 -b 4096 -d "$W/root" "$W/hand.raw" >/dev/null
qemu-img convert -O qcow2 "$W/hand.raw" "$W/hand.qcow2"
t3=$(now)

# context, not part of the ratio: what unpacking the same packages takes
# with dpkg-deb -x, one after the other, into a fresh directory in memory
rm -rf /dev/shm/reforge-bench-x
mkdir /dev/shm/reforge-bench-x
t4=$(now)
for d in "$W"/debs/*.deb; do dpkg-deb -x "$d" /dev/shm/reforge-bench-x; done
t5=$(now)
rm -rf /dev/shm/reforge-bench-x
x_t=$(echo "$t5 - $t4" | bc)

files=$(grep -c '<file ' "$W/report.xml")
pkgs=$(grep -c '<package ' "$W/report.xml")
hand_t=$(echo "$t3 - $t2" | bc)
phases() {
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print("  %s %s: " % ("filled from the streams, scratch in" if d.get("direct")
                    else "staged tree in", d.get("staging", "?")) + ", ".join(
    "%s %.2f" % (k, v) for k, v in d.get("phases", {}).items()))' "$1"
}
printf 'root: %s packages, %s files, %s of data; %s cores\n' "$pkgs" "$files" \
	"$(du -sh "$W/root" | cut -f1)" "$(nproc)"
printf 'reforge-gen, payload cache empty (fills it):         %6.2f s\n' "$cold_t"
phases "$W/gen-cold.json"
printf 'reforge-gen (unpack + overlay + metadata + ext4 + qcow2): %6.2f s  image %s bytes\n' \
	"$gen_t" "$(stat -c %s "$W/gen.qcow2")"
phases "$W/gen.json"
printf 'reforge-gen, staging on disk (--tmpdir %s): %6.2f s\n' "$W" "$disk_t"
phases "$W/gen-disk.json"
printf 'reforge-gen, in memory, one thread (--jobs 1):    %6.2f s\n' "$one_t"
phases "$W/gen-1.json"
printf 'reforge-gen --staged (a staged tree, as tuned images):    %6.2f s\n' "$staged_t"
phases "$W/gen-staged.json"
printf 'by hand (mke2fs -d of the tree + qemu-img convert):        %6.2f s  image %s bytes\n' \
	"$hand_t" "$(stat -c %s "$W/hand.qcow2")"
printf 'for scale: dpkg-deb -x of the same packages, one by one:   %6.2f s\n' "$x_t"
printf 'ratio reforge-gen / by hand: %.2f (payload cache empty: %.2f)\n' \
	"$(echo "$gen_t / $hand_t" | bc -l)" "$(echo "$cold_t / $hand_t" | bc -l)"
# not timed: reforge-gen's filesystem is sound, and holds the files of
# mke2fs -d's with the same contents, but for what the scanner leaves out
# of a report and so of the image (/dev's contents, lock files)
qemu-img convert -O raw "$W/gen.qcow2" "$W/gen.raw"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["partitions"][0]; print(p["start"], p["size"])' "$W/gen.json" |
	{ read -r _s _n; dd if="$W/gen.raw" of="$W/gen.fs" bs=1M iflag=skip_bytes,count_bytes \
		skip="$_s" count="$_n" status=none; }
rm -f "$W/gen.raw"
if e2fsck -fn "$W/gen.fs" >"$W/gen.fsck" 2>&1; then
	echo "e2fsck -fn of reforge-gen's filesystem: clean"
else
	echo "e2fsck -fn of reforge-gen's filesystem: ERRORS (see $W/gen.fsck)"
	status=1
fi
rm -rf "$W/ls-gen" "$W/ls-hand"
mkdir "$W/ls-gen" "$W/ls-hand"
debugfs -R "rdump / $W/ls-gen" "$W/gen.fs" >/dev/null 2>&1
debugfs -R "rdump / $W/ls-hand" "$W/hand.raw" >/dev/null 2>&1
diff -r --no-dereference "$W/ls-gen" "$W/ls-hand" >"$W/gen.diff" 2>&1 || true
extra=$(grep -c "^Only in $W/ls-hand" "$W/gen.diff" || true)
if ! grep -vq "^Only in $W/ls-hand" "$W/gen.diff"; then
	echo "its files and contents: those of mke2fs -d's ($extra left out of the report)"
else
	echo "its files or contents differ from mke2fs -d's: see $W/gen.diff"
	status=1
fi
rm -rf "$W/ls-gen" "$W/ls-hand" "$W/gen.fs"
rm -f "$W/hand.raw" "$W/gen-cold.qcow2" "$W/gen-disk.qcow2" "$W/gen-1.qcow2" \
	"$W/gen-staged.qcow2"
exit ${status:-0}
