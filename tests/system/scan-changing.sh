#!/bin/sh
# Files that change while reforge-scan reads them: grown, shrunk, replaced
# by rename, deleted, turned into a symlink between lstat and open (made to
# happen at that exact moment by an LD_PRELOAD shim), and a file appended to
# all through the scan. Each is reported as changed, with a warning; the
# scan finishes, never loops, and its report is valid.
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
echo steady >"$R/data/steady"
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
for f in grow-me shrink-me replace-me vanish-me link-me; do
	grep -q "/data/$f changed while it was scanned" "$T/stderr" ||
		{ cat "$T/stderr"; fail "$f: no warning that it changed"; }
	xmllint --xpath "//*[local-name()='file'][@path='/data/$f'][@changed='true']" \
		"$T/report.xml" >/dev/null 2>&1 || fail "$f: not marked changed in the report"
done
xmllint --xpath "//*[local-name()='file'][@path='/data/steady'][not(@changed)][@sha256='$(sha256sum "$R/data/steady" | cut -d' ' -f1)']" \
	"$T/report.xml" >/dev/null 2>&1 || fail "the steady file is wrong"
echo "PASS: scan-changing"
