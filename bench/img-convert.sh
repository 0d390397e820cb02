#!/bin/sh
# Benchmark: reforge-img convert against qemu-img convert, in one run, on
# the same generated multi-GiB raw image (compressible text, random data,
# written zeros and holes), for qcow2 and for streamOptimized VMDK.
# Not a test: it prints times, ratios and sizes and asserts nothing.
#
#   bench/img-convert.sh [BUILDDIR]
#
# Environment: IMG_BENCH_GIB (image size, default 4), IMG_BENCH_DIR (work
# directory on a real disk, default a new one under /var/tmp),
# REFORGE_IMG (the binary; default BUILDDIR/formats/reforge-img).
#
# qemu-img convert does not flush its output by default (cache "unsafe");
# reforge-img does (it fsyncs before giving the file its name). qcow2 is
# timed both ways, like against like; VMDK with each tool's default.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
builddir=${1:-${top_builddir:-.}}
IMG=${REFORGE_IMG:-$builddir/formats/reforge-img}
gib=${IMG_BENCH_GIB:-4}
[ -x "$IMG" ] || { echo "no reforge-img at $IMG (pass BUILDDIR)" >&2; exit 2; }
command -v qemu-img >/dev/null || { echo "qemu-img not found" >&2; exit 2; }
dir=${IMG_BENCH_DIR:-$(mktemp -d /var/tmp/img-bench.XXXXXX)}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT INT TERM

now() { date +%s.%N; }
# elapsed START END: seconds, two decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# children_cpu_file: user + system seconds of all finished children, from
# what the shell's `times` wrote to $dir/times (second line, "XmY.Ys
# XmY.Ys"). `times` must run in this shell, not in a pipe or a $(...),
# where it would see a subshell without children.
children_cpu_file() {
	awk 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) {
			split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2]
		}
		printf "%.2f", t
	}' "$dir/times"
}
# timed VAR CMD...: run CMD once, store its wall time in VAR and its CPU
# time (user + system, all threads) in VAR_cpu.
timed() {
	_tv=$1
	shift
	times >"$dir/times"
	_tc=$(children_cpu_file)
	_ts=$(now)
	"$@" >/dev/null
	_te=$(now)
	times >"$dir/times"
	eval "$_tv=$(elapsed "$_ts" "$_te")"
	eval "${_tv}_cpu=$(elapsed "$_tc" "$(children_cpu_file)")"
}
# duel N CMD_R CMD_Q: run reforge-img's command and qemu-img's in turn,
# N times each, each after a sync and with its output removed, so that
# neither pays for the other's dirty pages; the best times go to r and q,
# the output sizes to rsize and qsize. The commands are shell strings.
duel() {
	_dn=$1
	r=
	q=
	_di=0
	while [ "$_di" -lt "$_dn" ]; do
		for _side in r q; do
			rm -f "$dir/out"
			sync
			if [ "$_side" = r ]; then
				timed _dt sh -c "$2"
				rsize=$(stat -c %s "$dir/out")
			else
				timed _dt sh -c "$3"
				qsize=$(stat -c %s "$dir/out")
			fi
			eval "_db=\$$_side"
			if [ -z "$_db" ] ||
				awk -v t="$_dt" -v b="$_db" 'BEGIN { exit !(t < b) }'
			then
				eval "$_side=$_dt"
			fi
		done
		_di=$((_di + 1))
	done
}
mib() { awk -v s="$1" 'BEGIN { printf "%.1f MiB", s / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "generating a ${gib} GiB raw image in $dir" \
	"(load average $(cut -d' ' -f1-3 /proc/loadavg)) ..."
python3 "$here/img-gen.py" "$dir/src.raw" $((gib * 1024 * 1024 * 1024))
echo "source: $(mib "$(stat -c %s "$dir/src.raw")") virtual," \
	"$(mib $(($(stat -c %b "$dir/src.raw") * 512))) allocated;" \
	"$(nproc) CPUs; $("$IMG" --version); $(qemu-img --version | head -1)"
# Warm the page cache so that both tools read from memory.
cat "$dir/src.raw" >/dev/null

# qcow2, flushed: reforge-img's default against qemu-img -t writeback.
duel 3 "'$IMG' convert -O qcow2 '$dir/src.raw' '$dir/out'" \
	"qemu-img convert -t writeback -O qcow2 '$dir/src.raw' '$dir/out'"
echo "qcow2 (flushed): reforge-img ${r}s qemu-img ${q}s ratio" \
	"$(ratio "$r" "$q") size $(mib "$rsize") vs $(mib "$qsize")"
# qcow2, unflushed: reforge-img -t unsafe against qemu-img's default.
duel 3 "'$IMG' convert -t unsafe -O qcow2 '$dir/src.raw' '$dir/out'" \
	"qemu-img convert -O qcow2 '$dir/src.raw' '$dir/out'"
echo "qcow2 (unflushed): reforge-img ${r}s qemu-img ${q}s ratio" \
	"$(ratio "$r" "$q") size $(mib "$rsize") vs $(mib "$qsize")"
rm -f "$dir/out"
sync
"$IMG" convert -O qcow2 "$dir/src.raw" "$dir/r.qcow2"
qemu-img check -q "$dir/r.qcow2" && qemu-img compare -q -f raw \
	"$dir/src.raw" "$dir/r.qcow2" && echo "qcow2: check and compare OK"
rm -f "$dir/r.qcow2" "$dir/out"

# streamOptimized VMDK: compression on both cores against qemu-img.
sync
timed r "$IMG" convert -O vmdk -o subformat=streamOptimized,threads=2 \
	"$dir/src.raw" "$dir/r.vmdk"
sync
timed q qemu-img convert -O vmdk -o subformat=streamOptimized \
	"$dir/src.raw" "$dir/q.vmdk"
rsize=$(stat -c %s "$dir/r.vmdk")
qsize=$(stat -c %s "$dir/q.vmdk")
echo "vmdk streamOptimized: reforge-img ${r}s qemu-img ${q}s ratio" \
	"$(ratio "$r" "$q") (speed-up $(ratio "$q" "$r")x) size" \
	"$(mib "$rsize") vs $(mib "$qsize") (size ratio $(ratio "$rsize" "$qsize"))"
echo "vmdk streamOptimized CPU time: reforge-img ${r_cpu}s qemu-img" \
	"${q_cpu}s; load average now $(cut -d' ' -f1-3 /proc/loadavg)" \
	"(other work on the machine slows the 2-thread run most)"
qemu-img check -q "$dir/r.vmdk" && qemu-img compare -q -f raw \
	"$dir/src.raw" "$dir/r.vmdk" && echo "vmdk: check and compare OK"
