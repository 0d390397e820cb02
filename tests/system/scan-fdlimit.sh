#!/bin/sh
# A deep queue of directories under a low descriptor limit: entries waiting
# between the walk and the report hold their directories open, so the
# scanner must keep no more open than RLIMIT_NOFILE allows and slow down,
# never skip a directory ("Too many open files") or miss a file. Under
# `ulimit -n 200`, a tree of 3,000 one-file directories and a dpkg package
# scans completely, exit 0, with no warning, and the report lists every
# file, the same as a scan without the limit.
. "$(dirname "$0")/lib.sh"
need dpkg-deb dpkg
scratch
R="$T/root"
new_dpkg_root "$R"
P="$T/pkgs"
mkdir -p "$P/rf-fd/usr/share/fd"
for i in 1 2 3; do echo "file $i" >"$P/rf-fd/usr/share/fd/f$i"; done
make_deb "$P" rf-fd 1
dpkg --root="$R" --force-not-root -i "$P/rf-fd.deb" >/dev/null 2>&1 || fail "dpkg -i failed"
mkdir -p "$R/srv/many"
i=0
while [ $i -lt 3000 ]; do
	mkdir "$R/srv/many/d$i" && echo "$i" >"$R/srv/many/d$i/f"
	i=$((i + 1))
done

files() { # REPORT: the <file> paths, sorted
	grep -o '<file path="[^"]*"' "$1" | LC_ALL=C sort
}
"$SCAN" -q --root "$R" --report "$T/free.xml" >/dev/null 2>"$T/free.err" ||
	fail "scan without a limit: $(cat "$T/free.err")"
(ulimit -n 200 && exec "$SCAN" -q --root "$R" --report "$T/low.xml" \
	--json >"$T/low.json" 2>"$T/low.err")
rc=$?
[ $rc -eq 0 ] || fail "scan under ulimit -n 200: exit $rc: $(tail -3 "$T/low.err")"
grep -q 'Too many open files' "$T/low.err" && fail "descriptors ran out: $(head -3 "$T/low.err")"
[ "$(grep -c '<file path="/srv/many/d[0-9]*/f"' "$T/low.xml")" -eq 3000 ] ||
	fail "under ulimit -n 200 not every file is in the report"
files "$T/free.xml" >"$T/free.list"
files "$T/low.xml" >"$T/low.list"
cmp -s "$T/free.list" "$T/low.list" ||
	{ diff "$T/free.list" "$T/low.list" | head >&2; fail "the reports list different files"; }
echo "scan-fdlimit: $(wc -l <"$T/low.list") files under ulimit -n 200, as without it"
