#!/bin/sh
# reforge-scan on a dpkg root built by the real tools: packages made with
# dpkg-deb, installed with dpkg --root, then changed in known ways. The
# report must validate, --changes must list exactly the changes made, and
# its verdicts must agree with dpkg --verify on the same root.
. "$(dirname "$0")/lib.sh"
need dpkg-deb dpkg xmllint
scratch
R="$T/root"
new_dpkg_root "$R"

# alpha: a program, data, a conffile, a symlink
P="$T/pkgs"
mkdir -p "$P/rf-alpha/usr/bin" "$P/rf-alpha/usr/share/alpha" "$P/rf-alpha/etc"
printf '#!/bin/sh\necho alpha\n' >"$P/rf-alpha/usr/bin/alpha"
chmod 755 "$P/rf-alpha/usr/bin/alpha"
echo "alpha data" >"$P/rf-alpha/usr/share/alpha/data.txt"
echo "keep = 1" >"$P/rf-alpha/usr/share/alpha/keep.txt"
echo "setting = 1" >"$P/rf-alpha/etc/alpha.conf"
echo "other = 1" >"$P/rf-alpha/etc/alpha-other.conf"
ln -s alpha "$P/rf-alpha/usr/bin/alpha-link"
make_deb "$P" rf-alpha 1.0-1 /etc/alpha.conf /etc/alpha-other.conf
# beta: a library and its docs
mkdir -p "$P/rf-beta/usr/lib/beta" "$P/rf-beta/usr/share/doc/rf-beta"
echo "beta lib" >"$P/rf-beta/usr/lib/beta/lib.txt"
echo "beta lib 2" >"$P/rf-beta/usr/lib/beta/lib2.txt"
echo "readme" >"$P/rf-beta/usr/share/doc/rf-beta/README"
make_deb "$P" rf-beta 2.3 

dpkg --root="$R" --force-not-root --force-depends -i "$P/rf-alpha.deb" "$P/rf-beta.deb" \
	>"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log"; fail "dpkg could not install the packages"; }
# a local diversion, moving alpha's program aside
dpkg-divert --root="$R" --local --rename --divert /usr/bin/alpha.real \
	--add /usr/bin/alpha >/dev/null || fail "dpkg-divert failed"

# the changes
echo "changed" >>"$R/usr/share/alpha/data.txt"        # content
echo "setting = 2" >"$R/etc/alpha.conf"                # conffile content
rm "$R/usr/lib/beta/lib2.txt"                          # missing file
rm "$R/etc/alpha-other.conf"                           # missing conffile
mkdir -p "$R/opt/app"
echo "mine" >"$R/opt/app/tool"                         # unowned
echo "local" >"$R/etc/local.conf"                      # unowned
mkdir -p "$R/srv/odd"
printf 'x' >"$R/srv/odd/with space"
printf 'x' >"$R/srv/odd/$(printf 'new\nline')"
printf 'x' >"$R/srv/odd/$(printf 'bad\377byte')"
printf 'x' >"$R/srv/odd/$(printf 'tab\there')"
ln -s /nonexistent/target "$R/srv/odd/dangling"
mkfifo "$R/srv/odd/fifo"
mknod "$R/srv/odd/null" c 1 3 2>/dev/null || true
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$R/srv/odd/sock" 2>/dev/null || true
echo "linked" >"$R/srv/odd/hard1"
ln "$R/srv/odd/hard1" "$R/srv/odd/hard2"
deep="$R/srv/deep"
for i in $(seq 1 40); do deep="$deep/dddddddddddddddddddddddddddddddddddddddddddddddddddddddd$i"; done
mkdir -p "$deep" && echo deep >"$deep/leaf"
# a path far longer than PATH_MAX, made one directory at a time
python3 - "$R/srv" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(60):
    name = "L" * 200 + str(i)
    os.mkdir(name, dir_fd=fd)
    sub = os.open(name, os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = sub
leaf = os.open("longleaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(leaf, b"long")
os.close(leaf)
PY
truncate -s 64M "$R/srv/odd/sparse"
printf 'middle' | dd of="$R/srv/odd/sparse" bs=1 seek=33554432 conv=notrunc 2>/dev/null
setfattr -n user.reforge -v hello "$R/opt/app/tool" 2>/dev/null || true
setfacl -m u:1234:r "$R/etc/local.conf" 2>/dev/null || true

"$SCAN" -q --root "$R" --report "$T/report.xml" --changes="$T/changes" \
	>"$T/summary" 2>"$T/stderr"
rc=$?
[ $rc -eq 0 ] || { cat "$T/stderr"; fail "reforge-scan exited $rc"; }
validate "$T/report.xml"

# --changes: exactly these, in this order
cut -f1,3 "$T/changes" | grep -v '^unowned	/srv' >"$T/got"
cat >"$T/want" <<'WANT'
unowned	/etc/local.conf
missing	/etc/alpha-other.conf
modified	/etc/alpha.conf
unowned	/opt
unowned	/opt/app
unowned	/opt/app/tool
missing	/usr/lib/beta/lib2.txt
modified	/usr/share/alpha/data.txt
unowned	/var
unowned	/var/lib
unowned	/var/lib/dpkg
WANT
# the files in dpkg's own database are unowned too: not listed here
grep -v '	/var/lib/dpkg/' "$T/got" | sort -t'	' -k2 >"$T/got2"
grep -v '	/var/lib/dpkg/' "$T/want" | sort -t'	' -k2 >"$T/want2"
diff -u "$T/want2" "$T/got2" || fail "--changes differs from the changes made"
# sorted by path, as promised
cut -f3 "$T/changes" >"$T/paths"
LC_ALL=C sort -c "$T/paths" || fail "--changes is not sorted by path"
grep -q "^modified	content,conffile	/etc/alpha.conf$" "$T/changes" ||
	fail "the conffile change is not marked as such"
grep -q "^missing	conffile	/etc/alpha-other.conf$" "$T/changes" ||
	fail "the missing conffile is not marked as such"
# odd names are escaped, one line each
grep -q '	/srv/odd/new\\nline$' "$T/changes" || fail "newline not escaped"
grep -q '	/srv/odd/bad\\377byte$' "$T/changes" || fail "byte 0xff not escaped"
grep -q '	/srv/odd/tab\\there$' "$T/changes" || fail "tab not escaped"
grep -q '	/srv/odd/with space$' "$T/changes" || fail "space mangled"

# the path longer than PATH_MAX is scanned
grep -q '	/srv/LLL.*/longleaf$' "$T/changes" || fail "the very long path is missing"
[ "$(grep '/longleaf$' "$T/changes" | cut -f3 | wc -c)" -gt 12000 ] || fail "the long path is cut"

# the diverted program is where dpkg put it, and not missing
grep -q 'alpha.real' "$T/changes" && fail "the diverted file is reported as changed"
grep -q '/usr/bin/alpha$' "$T/changes" && fail "the diverted file is reported"

# verdicts agree with dpkg --verify: same paths modified or missing
dpkg --root="$R" --verify >"$T/verify" 2>&1
awk '{print $NF}' "$T/verify" | sort >"$T/dpkg-paths"
awk -F'\t' '($1=="modified" && $2 ~ /content/) || ($1=="missing" && $2!="path") {print $3}' \
	"$T/changes" | sort >"$T/our-paths"
diff -u "$T/dpkg-paths" "$T/our-paths" || fail "verdicts differ from dpkg --verify"

# the report holds what it promises
x() { xmllint --xpath "$1" "$T/report.xml" 2>/dev/null; }
ns='namespace-uri()="urn:reforge:report:1"'
[ "$(x 'count(//*[local-name()="package"])')" = 2 ] || fail "expected 2 packages"
x '//*[local-name()="package"][@name="rf-beta"][@version="2.3"][@status="installed"]' >/dev/null ||
	fail "rf-beta is not in the report"
x '//*[local-name()="config"][@path="/etc/alpha.conf"][@digest-algo="md5"]' >/dev/null ||
	fail "the conffile is not listed with its package"
x '//*[local-name()="diversion"][@from="/usr/bin/alpha"][@to="/usr/bin/alpha.real"][@by=":"]' >/dev/null ||
	fail "the diversion is not in the report"
want_sha=$(sha256sum "$R/opt/app/tool" | cut -d' ' -f1)
x "//*[local-name()='file'][@path='/opt/app/tool'][@sha256='$want_sha'][@class='unowned']" >/dev/null ||
	fail "the unowned file's digest is wrong"
x '//*[local-name()="file"][@path="/usr/bin/alpha-link"][@type="symlink"][@target="alpha"][@class="unmodified"]' >/dev/null ||
	fail "the symlink is not as packaged"
x '//*[local-name()="file"][@path="/srv/odd/dangling"][@target="/nonexistent/target"]' >/dev/null ||
	fail "the dangling symlink is missing"
x '//*[local-name()="file"][@path="/srv/odd/fifo"][@type="fifo"]' >/dev/null || fail "no fifo"
# hardlinks share a group
g1=$(x 'string(//*[local-name()="file"][@path="/srv/odd/hard1"]/@link-group)')
g2=$(x 'string(//*[local-name()="file"][@path="/srv/odd/hard2"]/@link-group)')
[ -n "$g1" ] && [ "$g1" = "$g2" ] || fail "hardlinks not grouped ($g1/$g2)"
[ "$(x 'string(//*[local-name()="file"][@path="/srv/odd/hard2"]/@sha256)')" = \
  "$(sha256sum "$R/srv/odd/hard1" | cut -d' ' -f1)" ] || fail "hardlink digest wrong"
# the sparse file: its layout and the digest of its whole content
want_sha=$(sha256sum "$R/srv/odd/sparse" | cut -d' ' -f1)
x "//*[local-name()='file'][@path='/srv/odd/sparse'][@sha256='$want_sha'][@size='67108864']" >/dev/null ||
	fail "the sparse file's digest or size is wrong"
[ "$(x 'count(//*[local-name()="file"][@path="/srv/odd/sparse"]/*[local-name()="extent"])')" -ge 1 ] ||
	fail "the sparse file's extents are not recorded"
# a non-UTF-8 name goes out as base64
b64=$(printf '/srv/odd/bad\377byte' | base64)
x "//*[local-name()='file'][@path-base64='$b64']" >/dev/null || fail "non-UTF-8 path not in base64"
# xattrs and ACLs, when the filesystem keeps them
if getfattr -n user.reforge "$R/opt/app/tool" >/dev/null 2>&1; then
	x '//*[local-name()="file"][@path="/opt/app/tool"]/*[local-name()="xattr"][@name="user.reforge"][@value-base64="aGVsbG8="]' >/dev/null ||
		fail "the xattr is not in the report"
fi
if getfacl -c "$R/etc/local.conf" 2>/dev/null | grep -q '^user:1234:r--'; then
	x '//*[local-name()="file"][@path="/etc/local.conf"]/*[local-name()="acl"][@type="access"][contains(@text,"u:1234:r--")]' >/dev/null ||
		fail "the ACL is not in the report"
fi
# the summary counts what --changes lists
[ "$(x 'string(//*[local-name()="summary"]/*[@name="missing"]/@files)')" = \
  "$(grep -c '^missing' "$T/changes")" ] || fail "summary and changes disagree"

# --json summary is JSON with the same counts
"$SCAN" -q --root "$R" --json >"$T/json" || fail "--json failed"
python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
assert d["packages"]==2, d
assert d["classes"]["modified"]["files"]==2, d
assert d["classes"]["missing"]["files"]==2, d
' "$T/json" || fail "--json summary is wrong"

# excludes: a glob on a name, a glob on a path, and a file of them
printf '# comment\n/srv/deep\n' >"$T/excl"
"$SCAN" -q --root "$R" -x '*.conf' --exclude-from "$T/excl" --changes="$T/c2" \
	--report "$T/r2.xml" >/dev/null || fail "scan with excludes failed"
grep -q 'local.conf\|/srv/deep/' "$T/c2" && fail "excluded paths were scanned"
grep -q 'missing	conffile	/etc/alpha-other.conf' "$T/c2" &&
	fail "a package file under an exclusion is reported missing"
validate "$T/r2.xml"
x2() { xmllint --xpath "$1" "$T/r2.xml" 2>/dev/null; }
x2 '//*[local-name()="exclude"][@path="/srv/deep"][@kind="pattern"]' >/dev/null ||
	fail "the exclusion is not recorded"

# a report into a device is written into it, never renamed over it
"$SCAN" -q --root "$R" --report /dev/null >/dev/null || fail "--report /dev/null failed"
[ -c /dev/null ] || { rm -f /dev/null; mknod -m 666 /dev/null c 1 3; fail "/dev/null was replaced"; }
# a report that cannot be written is an error, and leaves nothing behind
"$SCAN" -q --root "$R" --report "$T/no/such/dir/r.xml" >/dev/null 2>"$T/err" && fail "unwritable report: exit 0"
grep -q "cannot create" "$T/err" || fail "unwritable report: unclear message"

# a scan killed midway leaves no report, under its name or another
mkdir "$T/out"
"$SCAN" -q --root "$R" --report "$T/out/killed.xml" >/dev/null 2>&1 &
pid=$!
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -z "$(ls -A "$T/out")" ] || fail "a killed scan left $(ls "$T/out")"

# bad usage and a bad root fail clearly
"$SCAN" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad option: exit is not 2"
"$SCAN" -q --root "$T/nonexistent" >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "bad root: exit is not 1"
grep -q "cannot open root" "$T/err" || fail "bad root: unclear message"
"$SCAN" --help | grep -q -- '--changes' || fail "--help lacks --changes"
"$SCAN" --version | grep -q '^reforge-scan' || fail "--version"
# a corrupt dpkg database is an error, not a crash
cp -a "$R/var/lib/dpkg/status" "$T/status.good"
printf 'Package: broken\nStatus install ok installed\n' >>"$R/var/lib/dpkg/status"
"$SCAN" -q --root "$R" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || fail "corrupt status: exit $rc, not 1"
grep -q 'dpkg database' "$T/err" || fail "corrupt status: unclear message: $(cat "$T/err")"
cp -a "$T/status.good" "$R/var/lib/dpkg/status"
echo "PASS: scan-dpkg"
