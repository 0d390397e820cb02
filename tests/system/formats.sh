#!/bin/sh
# reforge-img against qemu-img: every image it writes passes `qemu-img
# check` and `qemu-img compare` with its raw source; it reads what qemu-img
# writes; bad input gives exit 1 and a message, never a crash; a convert
# killed midway leaves no file under the final name; an OVA holds a valid
# OVF, a correct manifest and a good disk.
set -u

: "${top_builddir:=.}"
IMG="$top_builddir/formats/reforge-img"
command -v qemu-img >/dev/null 2>&1 || { echo "qemu-img not found"; exit 77; }
[ -x "$IMG" ] || { echo "$IMG not built"; exit 1; }

T=$(mktemp -d /tmp/formats-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if "$@" >/dev/null 2>&1; then ok; else bad "$*"; fi; }

# put FILE OFFSET STRING: write bytes at an offset, keeping the rest.
put() { printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# --- sources ---
# Odd size with one byte in the very last sector.
truncate -s 5000001 "$T/odd.raw"
put "$T/odd.raw" 5000000 'Z'
# Data either side of qcow2 L2 ranges (512 MiB at 64k clusters), VMDK
# grain-table ranges (32 MiB) and a clusters' edge, over 1.1 GiB.
truncate -s 1181116006 "$T/bound.raw"
for off in 0 65535 33554431 33554432 67108863 100000000 536870911 \
	536870912 570425343 1073741823 1181115990; do
	put "$T/bound.raw" "$off" "edge@$off"
done
# Nothing written at all.
truncate -s 100M "$T/empty.raw"
# Mixed: random, text, written zeros, holes.
head -c 6M /dev/urandom >"$T/mixed.raw"
seq 1 400000 >>"$T/mixed.raw"
head -c 3M /dev/zero >>"$T/mixed.raw"
truncate -s 20M "$T/mixed.raw"
head -c 1M /dev/urandom >>"$T/mixed.raw"

configs="raw qcow2 qcow2:cluster_size=512 qcow2:cluster_size=2M
qcow2:compress=on qcow2:compress=on,compression_type=zstd vmdk
vmdk:subformat=streamOptimized,adapter_type=lsilogic"

for src in odd bound empty mixed; do
	for cfg in $configs; do
		fmt=${cfg%%:*}
		opt=
		[ "$fmt" != "$cfg" ] && opt=${cfg#*:}
		out="$T/out.$fmt"
		# 512-byte clusters cannot address the 1.1 GiB disk cheaply
		# enough for a test; the rest can.
		if [ "$src" = bound ] && [ "$opt" = cluster_size=512 ]; then
			continue
		fi
		rm -f "$out"
		if ! "$IMG" convert -O "$fmt" ${opt:+-o "$opt"} "$T/$src.raw" \
			"$out"; then
			bad "convert $src to $cfg"
			continue
		fi
		if [ "$fmt" != raw ]; then
			check qemu-img check -q "$out"
		fi
		if qemu-img compare -q -f raw "$T/$src.raw" "$out"; then
			ok
		else
			bad "qemu-img compare $src $cfg"
		fi
		# Our reader gives the same disk back.
		if "$IMG" convert -O raw "$out" "$T/back.raw" &&
			qemu-img compare -q -f raw -F raw "$T/$src.raw" \
				"$T/back.raw"; then
			ok
		else
			bad "read back $src $cfg"
		fi
	done
done
# raw output is sparse with the exact size.
"$IMG" convert -O raw "$T/bound.raw" "$T/b.raw"
check test "$(stat -c %s "$T/b.raw")" -eq 1181116006
check test "$(stat -c %b "$T/b.raw")" -lt 2048

# --- images qemu-img wrote ---
for cfg in "qcow2" "qcow2 -c" "qcow2 -c -o compression_type=zstd" \
	"qcow2 -o compat=0.10" "qcow2 -o cluster_size=4k" "vmdk" \
	"vmdk -o subformat=streamOptimized"; do
	rm -f "$T/q.img"
	# shellcheck disable=SC2086
	qemu-img convert -O $cfg "$T/mixed.raw" "$T/q.img"
	if "$IMG" convert -O raw "$T/q.img" "$T/back.raw" &&
		qemu-img compare -q -f raw -F raw "$T/mixed.raw" "$T/back.raw"
	then
		ok
	else
		bad "read qemu-img's $cfg"
	fi
done

# --- info ---
"$IMG" convert -O qcow2 -o cluster_size=4k "$T/odd.raw" "$T/i.qcow2"
info=$("$IMG" info "$T/i.qcow2")
check sh -c "echo '$info' | grep -q 'file format: qcow2'"
check sh -c "echo '$info' | grep -q '(5000192 bytes)'"
check sh -c "echo '$info' | grep -q 'cluster_size: 4096'"
json=$("$IMG" info --output=json "$T/i.qcow2")
check sh -c "echo '$json' | grep -q '\"virtual-size\": 5000192'"
check sh -c "echo '$json' | grep -q '\"format\": \"qcow2\"'"

# --- errors: exit 1, a message, no crash ---
# expect_fail PATTERN CMD...: exits 1 and says PATTERN on stderr.
expect_fail() {
	pattern=$1
	shift
	"$@" >/dev/null 2>"$T/err"
	st=$?
	if [ "$st" -eq 1 ] && grep -q "$pattern" "$T/err"; then
		ok
	else
		bad "expected exit 1 and '$pattern' from $*: exit $st: $(cat "$T/err")"
	fi
}
expect_fail "Could not open" "$IMG" convert "$T/nonexistent" "$T/x.raw"
expect_fail "Unknown file format" "$IMG" convert -O vhdx "$T/odd.raw" "$T/x"
expect_fail "Invalid parameter 'bogus'" "$IMG" convert -O qcow2 -o bogus=1 \
	"$T/odd.raw" "$T/x"
expect_fail "Invalid value" "$IMG" convert -O vmdk -o subformat=flat \
	"$T/odd.raw" "$T/x"
# A special file (here a FIFO, standing in for a device) is never
# swapped for a regular file, nor is a directory.
mkfifo "$T/fifo"
expect_fail "not a regular file" "$IMG" convert "$T/odd.raw" "$T/fifo"
check test -p "$T/fifo"
mkdir "$T/adir"
expect_fail "not a regular file" "$IMG" convert "$T/odd.raw" "$T/adir"
check test -d "$T/adir"
expect_fail "Expecting one" "$IMG" info
expect_fail "Command not found" "$IMG" frobnicate
head -c 300 "$T/i.qcow2" >"$T/trunc.qcow2"
expect_fail "truncated" "$IMG" info "$T/trunc.qcow2"
"$IMG" convert -O vmdk -o subformat=streamOptimized "$T/mixed.raw" \
	"$T/s.vmdk"
head -c 100000 "$T/s.vmdk" >"$T/trunc.vmdk"
expect_fail "footer" "$IMG" convert "$T/trunc.vmdk" "$T/x.raw"
# Corrupt data inside a grain: found while converting.
cp "$T/s.vmdk" "$T/flip.vmdk"
put "$T/flip.vmdk" 70000 'XXXXXXXXXXXXXXXX'
expect_fail "corrupt" "$IMG" convert "$T/flip.vmdk" "$T/x.raw"
check test ! -e "$T/x.raw"
check test ! -e "$T/x"
expect_fail "descriptor" "$IMG" info "$top_srcdir/tests/fuzz/corpus/img_vmdk/descriptor.vmdk"

# --- a convert killed midway leaves nothing under the final name ---
# Base64 text deflates slowly enough (seconds on one thread) to be caught
# in the middle; random bytes would be stored at once.
mkdir "$T/kill"
head -c 192M /dev/urandom | base64 -w 0 >"$T/kill.raw"
# killed_midway CMD...: start CMD, kill -9 it after a second; false when
# it had already finished (then nothing can be concluded).
killed_midway() {
	"$@" &
	kpid=$!
	sleep 1
	if kill -9 "$kpid" 2>/dev/null; then
		wait "$kpid" 2>/dev/null
		return 0
	fi
	wait "$kpid"
	echo "note: '$*' finished before it could be killed"
	return 1
}
if killed_midway "$IMG" convert -O vmdk \
	-o subformat=streamOptimized,threads=1 "$T/kill.raw" \
	"$T/kill/out.vmdk"; then
	check test ! -e "$T/kill/out.vmdk"
	check test -z "$(ls -A "$T/kill")"
fi
rm -f "$T/kill/out.vmdk"
# The same with qcow2 into an existing file: the old file stays whole.
echo old >"$T/kill/keep.qcow2"
if killed_midway "$IMG" convert -O qcow2 -o compress=on,threads=1 \
	"$T/kill.raw" "$T/kill/keep.qcow2"; then
	check test "$(cat "$T/kill/keep.qcow2")" = old
	check test "$(ls -A "$T/kill")" = keep.qcow2
fi
rm -f "$T/kill.raw"

# --- OVA ---
"$IMG" convert -O ova -o name=web1,cpus=2,memory=2048,nic=vmxnet3 \
	"$T/mixed.raw" "$T/web1.ova"
check test "$(tar tf "$T/web1.ova" | tr '\n' ' ')" = \
	"web1.ovf web1.mf web1-disk1.vmdk "
mkdir "$T/ova"
tar xf "$T/web1.ova" -C "$T/ova"
check xmllint --noout "$T/ova/web1.ovf"
x() { xmllint --xpath "$1" "$T/ova/web1.ovf" 2>/dev/null; }
check test "$(x 'string(//*[local-name()="Item"][*[local-name()="ResourceType"]="3"]/*[local-name()="VirtualQuantity"])')" = 2
check test "$(x 'string(//*[local-name()="Item"][*[local-name()="ResourceType"]="4"]/*[local-name()="VirtualQuantity"])')" = 2048
check test "$(x 'string(//*[local-name()="Item"][*[local-name()="ResourceType"]="10"]/*[local-name()="ResourceSubType"])')" = VmxNet3
check test "$(x 'string(//*[local-name()="Disk"]/@*[local-name()="capacity"])')" = "$(stat -c %s "$T/mixed.raw")"
check test "$(x 'string(//*[local-name()="File"]/@*[local-name()="size"])')" = "$(stat -c %s "$T/ova/web1-disk1.vmdk")"
(cd "$T/ova" && sed 's/^SHA256(\(.*\))= \(.*\)$/\2  \1/' web1.mf |
	sha256sum -c --quiet) && ok || bad "OVA manifest"
check qemu-img check -q "$T/ova/web1-disk1.vmdk"
check qemu-img compare -q -f raw "$T/mixed.raw" "$T/ova/web1-disk1.vmdk"
check sh -c "qemu-img info '$T/ova/web1-disk1.vmdk' | grep -q streamOptimized"

echo "formats: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
