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
# damaged or truncated header, a payload with a ../../ member, a primary
# that differs from repomd.xml; each fails with a clear message, writes
# no image and nothing outside the staging root. Last, the same root
# through reforge-server's image jobs.
. "$(dirname "$0")/gen-pkg-lib.sh"
. "$(dirname "$0")/repo-fixtures.sh"
need rpm rpmbuild createrepo_c bsdtar debugfs e2fsck setfattr python3 gpg
[ "$(id -u)" -eq 0 ] || skip "rpm --root and owners need root"
scratch
R="$T/root"

# rpm_build NAME [RPMBUILD-ARG...]: a spec on stdin, built into
# $T/top/RPMS/noarch
rpm_build() {
	_n=$1
	shift
	cat >"$T/$_n.spec"
	rpmbuild -bb --quiet --define "_topdir $T/top" \
		--define "_build_id_links none" "$@" "$T/$_n.spec" \
		>"$T/rpmbuild.log" 2>&1 ||
		{ cat "$T/rpmbuild.log"; fail "rpmbuild $_n"; }
}
# payloads as Fedora (zstd) and RHEL (xz) compress them
rpm_build rf-alpha --define '_binary_payload w19.zstdio' <<'EOF'
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
rpm_build rf-beta --define '_binary_payload w6.xzdio' <<'EOF'
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
[ "$(rpm -qp --qf '%{PAYLOADCOMPRESSOR}' "$A") $(rpm -qp --qf '%{PAYLOADCOMPRESSOR}' "$B")" = "zstd xz" ] ||
	fail "the packages are not compressed with zstd and xz"
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
# an imported key: rpm's gpg-pubkey pseudo-package, which no repository
# has and which has nothing to unpack (the database, in the overlay, is
# all of it)
gpg_key "$T/gnupg"
gpg --batch --quiet --armor --export >"$T/key.asc"
gpgconf --kill all 2>/dev/null
rpm --root "$R" --dbpath /var/lib/rpm --import "$T/key.asc" ||
	fail "rpm --import failed"
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
grep -q 'db="rpm"' "$T/src.xml" || fail "the scan has no rpm package"
grep -q 'name="gpg-pubkey"' "$T/src.xml" || fail "the scan has no gpg-pubkey"
grep -q 'epoch="3"' "$T/src.xml" || fail "the scan lost rf-alpha's epoch"
make_overlay "$R" "$T/src.xml" "$T/overlay.tar"

# --- generate, fidelity ---
gen_image 3 # gpg-pubkey counts: nothing to unpack
check_fidelity
debugfs -R "ea_list /usr/bin/alpha-ping" "$T/fs.img" 2>/dev/null |
	grep -q 'security.capability' || fail "the file capability was lost"
# the same through the payload cache (the decoded cpio stored, read back)
cached_twice 3 2
debugfs -R "ea_list /usr/bin/alpha-ping" "$T/fs.img" 2>/dev/null |
	grep -q 'security.capability' || fail "the file capability was lost (cache)"

# --- bad input ---
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
# a payload with a member named ../../escaped (rf-beta's header, a cpio
# made by hand, compressed with xz as the header says), listed in an
# rpm-md repository with its right checksum: refused, nothing outside
mkdir "$T/bad5"
python3 - "$B" "$T/bad5/rf-beta.rpm" <<'PY' || fail "cannot make the hostile rpm"
import lzma, struct, sys
d = open(sys.argv[1], 'rb').read()
def header_end(off):
    assert d[off:off + 3] == b'\x8e\xad\xe8'
    n, size = struct.unpack('>II', d[off + 8:off + 16])
    return off + 16 + 16 * n + size
sig = header_end(96)
sig += (8 - sig % 8) % 8
end = header_end(sig)
def entry(name, mode, data):
    name = name.encode() + b'\0'
    h = b'070701' + b''.join(b'%08X' % v for v in
        (1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0))
    out = h + name
    out += b'\0' * ((4 - len(out) % 4) % 4) + data
    return out + b'\0' * ((4 - len(data) % 4) % 4)
cpio = (entry('./usr/lib/beta/lib.txt', 0o100644, b'beta lib\n') +
        entry('../../escaped', 0o100644, b'pwned\n') +
        entry('TRAILER!!!', 0, b''))
open(sys.argv[2], 'wb').write(d[:end] + lzma.compress(cpio))
PY
createrepo_c -q "$T/bad5" >/dev/null || fail "createrepo_c failed"
gen_bad cpioesc "$T/repo1" "$T/bad5"
grep -q "refused entry name '../../escaped'" "$T/cpioesc.err" ||
	fail "unclear message for a ../ member: $(cat "$T/cpioesc.err")"
[ -e "$T/escaped" ] && fail "a ../ member was written outside the root"
# primary's checksum in repomd.xml differs
cp -r "$T/repo1" "$T/bad4"
p=$(ls "$T"/bad4/repodata/*primary.xml*)
printf '\0' >>"$p"
gen_bad primary "$T/bad4" "$T/repo2"
grep -q 'differs from the one repomd.xml gives' "$T/primary.err" ||
	fail "unclear message for a bad primary: $(cat "$T/primary.err")"

# --- through the server: rf-alpha from its rpm-md repository (rf-beta and
# gpg-pubkey are in none, so rf-beta's files come with the scan) ---
server_gen "$R" --kind rpm-md --url "file://$T/repo1"
grep -q "packages: 1 from the repositories, 2 in no" "$T/job.log" ||
	fail "the server's job: $(cat "$T/job.log")"
for f in usr/share/alpha/data.txt usr/share/alpha/data-link.txt \
	usr/share/alpha/private/key etc/alpha/alpha.conf usr/lib/beta/lib.txt; do
	cmp "$R/$f" "$T/srv-ex/$f" || fail "the server's image: /$f differs"
done
echo "gen-rpm: all checks passed"
