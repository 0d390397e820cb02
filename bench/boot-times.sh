#!/bin/sh
# Benchmark (not a test): how long tuning and booting take.
#
#   bench/boot-times.sh [BUILDDIR] [ROUNDS]
#
# Runs tests/system/boot-kvm.sh ROUNDS times (default 1) with one cached
# mmdebstrap root (REFORGE_BOOT_CACHE, default /var/tmp/reforge-bench-boot;
# the first round makes it), and prints for each round the seconds
# reforge-gen took for the kvm qcow2 (GPT) and the vmware streamOptimized
# VMDK (MBR), tuning included (guest tools, initramfs, GRUB), and the
# seconds from qemu's start (TCG, 2 vCPUs, 1 GiB) to the marker line that
# the source's own unit prints after multi-user.target.
B=${1:-$PWD}
N=${2:-1}
export REFORGE_BOOT_CACHE=${REFORGE_BOOT_CACHE:-${TMPDIR:-/var/tmp}/reforge-bench-boot}
S=$(cd "$(dirname "$0")/.." && pwd)
i=1
while [ $i -le "$N" ]; do
	out=$(top_builddir=$B top_srcdir=$S sh "$S/tests/system/boot-kvm.sh" 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "$out" | tail -20 >&2
		echo "round $i: boot-kvm.sh failed (exit $rc)" >&2
		exit 1
	fi
	echo "round $i:"
	echo "$out" | grep -E ': generated in |: marker after ' |
		sed 's/: REFORGE-BOOT-OK.*//; s/^/  /'
	i=$((i + 1))
done
