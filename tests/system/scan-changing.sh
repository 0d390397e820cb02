#!/bin/sh
# Files that change while reforge-scan reads them: grown, shrunk, replaced
# by rename, deleted, turned into a symlink or a fifo between lstat and open
# (made to happen at that exact moment by an LD_PRELOAD shim; the fifo has
# no writer, so reading it must not hang), and a file appended to
# all through the scan. Each is reported as changed, with a warning; the
# scan finishes, never loops, and its report is valid. A big file truncated
# by another process while the scanner reads it (the shim does it right
# after its first chunk is read, or right after a mapping of it is made, so
# reading that faults) is reported changed too, and the scan does not crash.
# The files named *-me but truncate-me belong to a package (a hand-made
# dpkg database), so that they go through the MD5 lanes; truncate-me and
# steady-big do not (in lanes too: SHA-256 alone). Once more with the lanes
# turned off (REFORGE_NO_MD5MB, REFORGE_NO_SHANI), where big files are read
# from mappings.
# Last, a package file is shrunk and regrown
# all through repeated scans: each scan must finish, with a valid report.
. "$(dirname "$0")/lib.sh"
need cc xmllint
scratch
cc -shared -fPIC -O1 -o "$T/shim.so" "$top_srcdir/tests/system/changing-shim.c" -ldl ||
	fail "cannot build the shim"
R="$T/root"
mkdir -p "$R/data"
# one read exactly, and several: the end-of-file checks at both sizes
head -c 1048576 /dev/urandom >"$R/data/grow-me"
head -c 3000000 /dev/urandom >"$R/data/shrink-me"
echo old >"$R/data/replace-me"
echo new >"$R/data/replace-me.new"
echo bye >"$R/data/vanish-me"
echo soon >"$R/data/link-me"
echo pipe >"$R/data/fifo-me"
echo steady >"$R/data/steady"
head -c 3000000 /dev/urandom >"$R/data/truncate-me"
head -c 3000000 /dev/urandom >"$R/data/truncate-pkg-me"
head -c 4000000 /dev/urandom >"$R/data/churn"
head -c 9000000 /dev/urandom >"$R/data/steady-big"
# the package that owns the files that change (MD5, as dpkg records)
mkdir -p "$R/var/lib/dpkg/info"
cat >"$R/var/lib/dpkg/status" <<EOF
Package: changing
Status: install ok installed
Priority: optional
Section: misc
Maintainer: nobody <nobody@example.org>
Architecture: all
Version: 1
Description: files that change under the scan

EOF
printf '/.\n/data\n' >"$R/var/lib/dpkg/info/changing.list"
: >"$R/var/lib/dpkg/info/changing.md5sums"
for f in grow-me shrink-me replace-me vanish-me link-me steady \
	truncate-pkg-me churn; do
	printf '/data/%s\n' "$f" >>"$R/var/lib/dpkg/info/changing.list"
	(cd "$R" && md5sum "data/$f") >>"$R/var/lib/dpkg/info/changing.md5sums"
done
: >"$R/data/forever"
(while :; do echo "log line" >>"$R/data/forever"; done) &
writer=$!
trap 'kill $writer 2>/dev/null; rm -rf "$T"' EXIT

# the ASan runtime must come first; the shim does not need it
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
REFORGE_SHIM_ROOT="$R" LD_PRELOAD="$T/shim.so" timeout 300 "$SCAN" -q -j 2 --root "$R" \
	--report "$T/report.xml" --changes="$T/changes" >/dev/null 2>"$T/stderr"
rc=$?
kill $writer 2>/dev/null
[ $rc -eq 124 ] && fail "the scan did not finish"
[ $rc -eq 3 ] || { cat "$T/stderr"; fail "expected exit 3 (warnings), got $rc"; }
validate "$T/report.xml"
for f in grow-me shrink-me replace-me vanish-me link-me fifo-me truncate-me \
	truncate-pkg-me; do
	grep -q "/data/$f changed while it was scanned" "$T/stderr" ||
		{ cat "$T/stderr"; fail "$f: no warning that it changed"; }
	xmllint --xpath "//*[local-name()='file'][@path='/data/$f'][@changed='true']" \
		"$T/report.xml" >/dev/null 2>&1 || fail "$f: not marked changed in the report"
done
# replaced: nothing read from what took its place is claimed, and a fifo
# read is no error of the scan
for f in replace-me fifo-me; do
	xmllint --xpath "//*[local-name()='file'][@path='/data/$f'][not(@sha256)]" \
		"$T/report.xml" >/dev/null 2>&1 || fail "$f: a digest of what replaced it"
done
grep -q "fifo-me.*[Ii]llegal seek\|cannot read .*fifo-me" "$T/stderr" &&
	fail "the fifo put in a file's place is reported as a read error"
xmllint --xpath "//*[local-name()='file'][@path='/data/steady'][not(@changed)][@sha256='$(sha256sum "$R/data/steady" | cut -d' ' -f1)']" \
	"$T/report.xml" >/dev/null 2>&1 || fail "the steady file is wrong"
xmllint --xpath "//*[local-name()='file'][@path='/data/steady'][@class='unmodified'][@package='changing']" \
	"$T/report.xml" >/dev/null 2>&1 || fail "the steady file is not an unmodified package file"
xmllint --xpath "//*[local-name()='file'][@path='/data/steady-big'][not(@changed)][@sha256='$(sha256sum "$R/data/steady-big" | cut -d' ' -f1)']" \
	"$T/report.xml" >/dev/null 2>&1 || fail "the steady big file is wrong"

# the same truncation on the path that hashes one file at a time from 8 MiB
# mappings (CPUs without AVX-512, where there are no lanes): read from the
# mapping until it faulted, changed, and no digest claimed
head -c 3000000 /dev/urandom >"$R/data/truncate-me"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
REFORGE_NO_MD5MB=1 REFORGE_NO_SHANI=1 REFORGE_SHIM_ROOT="$R" LD_PRELOAD="$T/shim.so" \
	timeout 300 "$SCAN" -q -j 2 --root "$R" --report "$T/nolanes.xml" \
	>/dev/null 2>"$T/nolanes.err"
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] || { cat "$T/nolanes.err"; fail "scan without lanes: exit $rc"; }
validate "$T/nolanes.xml"
grep -q "/data/truncate-me changed while it was scanned" "$T/nolanes.err" ||
	{ cat "$T/nolanes.err"; fail "without lanes: truncate-me not reported changed"; }
xmllint --xpath "//*[local-name()='file'][@path='/data/truncate-me'][@changed='true'][not(@sha256)]" \
	"$T/nolanes.xml" >/dev/null 2>&1 || fail "without lanes: truncate-me wrong in the report"

# another process shrinks and regrows a package file all the time
head -c 4000000 /dev/urandom >"$T/churn.data"
(while :; do
	truncate -s 4096 "$R/data/churn"
	cat "$T/churn.data" >"$R/data/churn"
done) &
churner=$!
trap 'kill $churner 2>/dev/null; rm -rf "$T"' EXIT
for i in 1 2 3 4 5 6 7 8; do
	timeout 300 "$SCAN" -q -j 2 --root "$R" --report "$T/churn.xml" \
		>/dev/null 2>"$T/churn.err"
	rc=$?
	[ $rc -eq 0 ] || [ $rc -eq 3 ] ||
		{ kill $churner; cat "$T/churn.err"; fail "scan $i under churn: exit $rc"; }
	validate "$T/churn.xml"
done
kill $churner 2>/dev/null
echo "PASS: scan-changing"
