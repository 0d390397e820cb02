#!/bin/sh
# reforge-gen end to end on an rpm root built at test time: packages made
# with rpmbuild (one with an epoch; hardlinks, setuid, a file capability,
# symlinks, a private directory), served by an rpm-md repository
# (createrepo_c: repomd.xml and primary checksums verified) and by a plain
# directory of .rpm files (headers read with librpm, payload digests
# verified), installed with rpm --root and then changed; the root is
# scanned, its overlay made, and a raw image generated without tuning. The
# fidelity check must hold: the generated filesystem, extracted with
# debugfs (no mount, no loop device) and scanned again, has the same
# packages and the same files as the source. Then bad input: a package
# whose bytes differ from primary's checksum, a truncated payload, a
# damaged header; each fails with a clear message and writes no image.
. "$(dirname "$0")/gen-lib.sh"
. "$(dirname "$0")/gen-pkg-server.sh"
need rpm rpmbuild createrepo_c bsdtar debugfs e2fsck setfattr python3
[ "$(id -u)" -eq 0 ] || skip "rpm --root and owners need root"
scratch
R="$T/root"

# rpm_spec NAME: a spec on stdin, built into $T/top/RPMS/noarch
rpm_build() {
	cat >"$T/$1.spec"
	rpmbuild -bb --quiet --define "_topdir $T/top" \
		--define "_build_id_links none" "$T/$1.spec" \
		>"$T/rpmbuild.log" 2>&1 ||
		{ cat "$T/rpmbuild.log"; fail "rpmbuild $1"; }
}
rpm_build rf-alpha <<'EOF'
Name: rf-alpha
Version: 1.0
Release: 1
Epoch: 3
Summary: reforge generator test package
License: GPL
BuildArch: noarch
%description
test
%install
d=%{buildroot}
mkdir -p $d/usr/bin $d/usr/share/alpha/private $d/etc/alpha
printf '#!/bin/sh\necho alpha\n' >$d/usr/bin/alpha
echo "alpha data" >$d/usr/share/alpha/data.txt
ln $d/usr/share/alpha/data.txt $d/usr/share/alpha/data-link.txt
echo "gone" >$d/usr/share/alpha/gone.txt
echo "secret" >$d/usr/share/alpha/private/key
echo "setting = 1" >$d/etc/alpha/alpha.conf
printf '#!/bin/sh\n' >$d/usr/bin/alpha-ping
ln -s /usr/bin/alpha $d/usr/bin/alpha-abs
ln -s ../share/alpha/data.txt $d/usr/bin/alpha-rel
%files
%attr(4755,root,root) /usr/bin/alpha
%caps(cap_net_raw=ep) /usr/bin/alpha-ping
/usr/bin/alpha-abs
/usr/bin/alpha-rel
%dir /usr/share/alpha
/usr/share/alpha/data.txt
/usr/share/alpha/data-link.txt
/usr/share/alpha/gone.txt
%dir %attr(0700,root,root) /usr/share/alpha/private
%attr(0600,root,root) /usr/share/alpha/private/key
%dir /etc/alpha
%config(noreplace) /etc/alpha/alpha.conf
EOF
rpm_build rf-beta <<'EOF'
Name: rf-beta
Version: 2.3
Release: 4.rf
Summary: reforge generator test package
License: GPL
BuildArch: noarch
%description
test
%install
mkdir -p %{buildroot}/usr/lib/beta %{buildroot}/var/lib/beta
echo "beta lib" >%{buildroot}/usr/lib/beta/lib.txt
echo state >%{buildroot}/var/lib/beta/state
%files
/usr/lib/beta
%attr(0640,1234,1234) /var/lib/beta/state
EOF
A=$(ls "$T"/top/RPMS/noarch/rf-alpha-*.rpm)
B=$(ls "$T"/top/RPMS/noarch/rf-beta-*.rpm)
# an rpm-md repository for alpha, a plain directory of .rpm files for beta
mkdir -p "$T/repo1" "$T/repo2"
cp "$A" "$T/repo1/"
cp "$B" "$T/repo2/"
createrepo_c -q "$T/repo1" >/dev/null || fail "createrepo_c failed"

mkdir -p "$R/etc"
printf 'root:x:0:0::/root:/bin/sh\nu:x:1234:1234::/home/u:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nu:x:1234:\n' >"$R/etc/group"
rpm --root "$R" --dbpath /var/lib/rpm -i --nodeps --noscripts "$A" "$B" \
	>"$T/rpm.log" 2>&1 || { cat "$T/rpm.log"; fail "rpm -i failed"; }
getfattr -n security.capability "$R/usr/bin/alpha-ping" >/dev/null 2>&1 ||
	fail "rpm did not set the file capability"
# the changes the image must carry
echo "setting = 2" >"$R/etc/alpha/alpha.conf"
rm "$R/usr/share/alpha/gone.txt"
chmod 750 "$R/usr/lib/beta"
mkdir -p "$R/opt/app"
echo "mine" >"$R/opt/app/tool"
setfattr -n user.rf -v hello "$R/opt/app/tool" || fail "setfattr failed"
ln -s /nonexistent "$R/opt/app/dangling"

"$SCAN" -q --root "$R" --report "$T/src.xml" >/dev/null 2>"$T/scan.err" ||
	{ cat "$T/scan.err"; fail "reforge-scan of the source failed"; }
grep -q 'db="rpm"[^>]*name="rf-alpha"\|name="rf-alpha"[^>]*db="rpm"' "$T/src.xml" ||
	grep -q '<package[^>]*rf-alpha' "$T/src.xml" ||
	fail "the scan has no rf-alpha package"
grep -q 'epoch="3"' "$T/src.xml" || fail "the scan lost rf-alpha's epoch"
make_overlay "$R" "$T/src.xml" "$T/overlay.tar"

# --- generate ---
"$GEN" --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
	--repo "file://$T/repo1" --repo "file://$T/repo2" --format raw \
	--tmpdir "$T" --json -o "$T/img.raw" >"$T/gen.json" 2>"$T/gen.err" ||
	{ cat "$T/gen.err"; fail "reforge-gen failed"; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["packages"]==2, d' \
	"$T/gen.json" || fail "unexpected --json output: $(cat "$T/gen.json")"
ls "$T" | grep -q '^reforge-gen\.' && fail "the staging directory was left behind"
set -- $(gpt_part "$T/img.raw" 1)
[ -n "$2" ] || fail "no partition 1 in the GPT"
dd if="$T/img.raw" of="$T/fs.img" bs=1M iflag=skip_bytes,count_bytes \
	skip="$1" count="$2" status=none || fail "dd failed"
e2fsck -fn "$T/fs.img" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; fail "e2fsck found errors"; }

# --- fidelity ---
mkdir "$T/ex"
debugfs -R "rdump / $T/ex" "$T/fs.img" >/dev/null 2>&1 || fail "debugfs rdump failed"
# rdump drops setuid/setgid/sticky bits, which rpm's database records: the
# extracted copy gets them back as debugfs reads them on the filesystem
# (check_special then compares them with the source)
for p in $(python3 - "$T/src.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
N = '{urn:reforge:report:1}'
for f in ET.parse(sys.argv[1]).getroot().iter(N + 'file'):
    m = f.get('mode')
    if m and int(m, 8) & 0o7000 and f.get('type') == 'file' and f.get('path'):
        print(f.get('path'))
PY
); do
	m=$(debugfs -R "stat $p" "$T/fs.img" 2>/dev/null | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p')
	[ -n "$m" ] || fail "$p is not in the image"
	chmod "$m" "$T/ex$p" || fail "chmod $p"
done
"$SCAN" -q --root "$T/ex" --report "$T/gen.xml" >/dev/null 2>"$T/scan2.err" ||
	{ cat "$T/scan2.err"; fail "reforge-scan of the image failed"; }
compare_reports "$T/src.xml" "$T/gen.xml" || fail "the image differs from the source"
check_special "$T/src.xml" "$T/fs.img" || fail "special files or modes differ"
debugfs -R "ea_get /opt/app/tool user.rf" "$T/fs.img" 2>/dev/null | grep -q hello ||
	fail "user.rf lost"
debugfs -R "ea_list /usr/bin/alpha-ping" "$T/fs.img" 2>/dev/null |
	grep -q 'security.capability' || fail "the file capability was lost"
ino() { debugfs -R "stat $1" "$T/fs.img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
[ "$(ino /usr/share/alpha/data.txt)" = "$(ino /usr/share/alpha/data-link.txt)" ] ||
	fail "package hardlink broken"
[ "$(debugfs -R 'cat /usr/share/alpha/data-link.txt' "$T/fs.img" 2>/dev/null)" = "alpha data" ] ||
	fail "the hardlinked file lost its data"
debugfs -R "stat /usr/share/alpha/gone.txt" "$T/fs.img" 2>&1 | grep -q 'File not found' ||
	fail "a file missing on the source is in the image"

# --- bad input ---
# gen_bad NAME REPO... : reforge-gen must fail, name the cause, write nothing
gen_bad() {
	_n=$1
	shift
	_r=""
	for _d; do _r="$_r --repo file://$_d"; done
	# shellcheck disable=SC2086
	"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
		$_r --format raw --tmpdir "$T" -o "$T/$_n.raw" 2>"$T/$_n.err"
	_rc=$?
	[ $_rc -ne 0 ] || fail "$_n: reforge-gen accepted it"
	[ -e "$T/$_n.raw" ] && fail "$_n: an image was written"
	ls "$T" | grep -q '^reforge-gen\.' && fail "$_n: the staging directory was left behind"
	return 0
}
# bytes that differ from primary's checksum
cp -r "$T/repo1" "$T/bad1"
f=$(ls "$T"/bad1/*.rpm)
printf 'X' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") - 100)) conv=notrunc 2>/dev/null
gen_bad sum "$T/bad1" "$T/repo2"
grep -q 'SHA-256 differs from the one the repository' "$T/sum.err" ||
	fail "unclear message for a checksum mismatch: $(cat "$T/sum.err")"
# a truncated payload in a plain directory: the header reads, the payload
# is short of the digest the header gives
mkdir "$T/bad2"
head -c $(($(stat -c %s "$B") - 20)) "$B" >"$T/bad2/rf-beta.rpm"
gen_bad trunc "$T/repo1" "$T/bad2"
grep -q "bad2/rf-beta.rpm: SHA-256 differs from the one the package's header gives" \
	"$T/trunc.err" || fail "unclear message for a truncated payload: $(cat "$T/trunc.err")"
# a truncated header: the repository is refused
head -c 1000 "$B" >"$T/bad2/rf-beta.rpm"
gen_bad trunchdr "$T/repo1" "$T/bad2"
grep -q 'rf-beta.rpm: not a readable rpm package' "$T/trunchdr.err" ||
	fail "unclear message for a truncated header: $(cat "$T/trunchdr.err")"
# a damaged header: the repository is refused
mkdir "$T/bad3"
cp "$B" "$T/bad3/rf-beta.rpm"
printf 'XXXXXXXXXXXXXXXX' | dd of="$T/bad3/rf-beta.rpm" bs=1 seek=300 conv=notrunc 2>/dev/null
gen_bad header "$T/repo1" "$T/bad3"
grep -q 'rf-beta.rpm: not a readable rpm package' "$T/header.err" ||
	fail "unclear message for a damaged header: $(cat "$T/header.err")"
# primary's checksum in repomd.xml differs
cp -r "$T/repo1" "$T/bad4"
p=$(ls "$T"/bad4/repodata/*primary.xml*)
printf '\0' >>"$p"
gen_bad primary "$T/bad4" "$T/repo2"
grep -q 'differs from the one repomd.xml gives' "$T/primary.err" ||
	fail "unclear message for a bad primary: $(cat "$T/primary.err")"

# --- through the server: rf-alpha from its rpm-md repository (rf-beta is
# in none, so its files come with the scan) ---
server_gen "$R" --kind rpm-md --url "file://$T/repo1"
grep -q "packages: 1 from the repositories, 1 in no" "$T/job.log" ||
	fail "the server's job: $(cat "$T/job.log")"
for f in usr/share/alpha/data.txt usr/share/alpha/data-link.txt \
	usr/share/alpha/private/key etc/alpha/alpha.conf usr/lib/beta/lib.txt; do
	cmp "$R/$f" "$T/srv-ex/$f" || fail "the server's image: /$f differs"
done
echo "gen-rpm: all checks passed"
