# Helpers of the generator's system tests: sourced, not run.
. "$(dirname "$0")/lib.sh"

GEN="$top_builddir/generator/reforge-gen"

# make_overlay ROOT REPORT TAR: the scan's overlay as the scanner's
# --overlay writes it: a pax tar of the modified and unowned files, named
# by their report path without the leading "/", content and metadata.
make_overlay() {
	python3 - "$2" >"$T/overlay.list" <<'PY' || fail "cannot list the overlay"
import sys, base64, xml.etree.ElementTree as ET
N = '{urn:reforge:report:1}'
for f in ET.parse(sys.argv[1]).getroot().iter(N + 'file'):
    if f.get('class') not in ('modified', 'unowned'):
        continue
    p = f.get('path')
    if p is None:
        p = base64.b64decode(f.get('path-base64')).decode('utf-8', 'surrogateescape')
    if p != '/':
        print(p[1:])
PY
	bsdtar -C "$1" --format pax --xattrs --acls -n -cf "$3" -T "$T/overlay.list" \
		2>"$T/bsdtar.err" ||
		fail "bsdtar could not write the overlay"
}

# set_storage IN OUT XML: the report with its <storage> replaced
set_storage() {
	python3 - "$1" "$2" "$3" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
s, n = re.subn(r'<storage(/>|[ >].*?</storage>)', sys.argv[3], s, count=1,
               flags=re.S)
assert n == 1
open(sys.argv[2], 'w').write(s)
PY
}

# gpt_part IMAGE N: "start_bytes size_bytes" of partition N of a raw GPT
# image, read from the primary header's entry array.
gpt_part() {
	python3 - "$1" "$2" <<'PY'
import struct, sys
with open(sys.argv[1], 'rb') as f:
    f.seek(512)
    h = f.read(92)
    assert h[:8] == b'EFI PART'
    lba, = struct.unpack_from('<Q', h, 72)
    f.seek(lba * 512 + 128 * (int(sys.argv[2]) - 1))
    e = f.read(128)
    first, last = struct.unpack_from('<QQ', e, 32)
    print(first * 512, (last - first + 1) * 512)
PY
}

# part IMAGE OUT [N]: partition N (1) of the raw GPT IMAGE into OUT
part() {
	set -- "$1" "$2" "${3:-1}" $(gpt_part "$1" "${3:-1}")
	[ -n "$5" ] || fail "no partition $3 in $1"
	dd if="$1" of="$2" bs=1M iflag=skip_bytes,count_bytes skip="$4" \
		count="$5" status=none || fail "dd of partition $3 of $1 failed"
}

# ext_sound FS TAG: e2fsck -fn finds nothing wrong in the filesystem FS
ext_sound() {
	e2fsck -fn "$1" >"$1.fsck" 2>&1 ||
		{ cat "$1.fsck"; fail "$2: e2fsck found errors"; }
}

# compare_reports SOURCE GENERATED: every file identical in type, mode,
# owner, group, size, content, link target, rdev and class, and the same
# packages, except the paths generation changes on purpose:
#   /lost+found         made by mke2fs
#   /                   its mtime (mke2fs adds lost+found)
# mtimes are compared to the second (debugfs rdump restores whole seconds)
# and not for symlinks (rdump sets none). What rdump cannot restore is read
# on the filesystem itself by check_special (device nodes, FIFOs, sockets,
# setuid/setgid/sticky bits) and by the test (xattrs, ACLs, hardlinks).
compare_reports() {
	python3 - "$1" "$2" <<'PY'
import sys, xml.etree.ElementTree as ET
N = '{urn:reforge:report:1}'
IGNORE = {'/lost+found'}
def load(p):
    root = ET.parse(p).getroot()
    files = {}
    for f in root.iter(N + 'file'):
        if f.get('class') == 'missing':
            continue
        files[f.get('path') or f.get('path-base64')] = f
    pkgs = sorted((p.get('db'), p.get('name'), p.get('version'), p.get('arch'))
                  for p in root.iter(N + 'package'))
    return files, pkgs
a, pa = load(sys.argv[1])
b, pb = load(sys.argv[2])
bad = []
if pa != pb:
    bad.append('packages differ: %s / %s' % (pa, pb))
for p in sorted(set(a) | set(b)):
    if p in IGNORE:
        continue
    if p not in b and a[p].get('type') in ('fifo', 'socket', 'chardev', 'blockdev'):
        continue  # rdump skips them: check_special
    if p not in a or p not in b:
        bad.append('only in the %s: %s' % ('source' if p in a else 'image', p))
        continue
    for k in ('type', 'mode', 'uid', 'gid', 'user', 'group', 'size',
              'sha256', 'target', 'target-base64', 'rdev', 'class',
              'package'):
        va, vb = a[p].get(k), b[p].get(k)
        if k == 'mode' and va and vb and int(va, 8) & 0o7000:
            va, vb = int(va, 8) & 0o777, int(vb, 8) & 0o777  # check_special
        if va != vb:
            bad.append('%s: %s %s != %s' % (p, k, va, vb))
    if p != '/' and a[p].get('type') != 'symlink':
        sa = a[p].get('mtime', '').split('.')[0]
        sb = b[p].get('mtime', '').split('.')[0]
        if sa != sb:
            bad.append('%s: mtime %s != %s' % (p, sa, sb))
for line in bad:
    print(line)
print('compared %d files, %d differences' % (len(a), len(bad)), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# check_special REPORT FSIMAGE: type, mode (all 12 bits), owner and rdev of
# every special file and every setuid/setgid/sticky file of the report, as
# debugfs reads them on the generated filesystem.
check_special() {
	python3 - "$1" "$2" <<'PY'
import subprocess, sys, re, xml.etree.ElementTree as ET
N = '{urn:reforge:report:1}'
TYPES = {'fifo': 'FIFO', 'socket': 'socket', 'chardev': 'character special',
         'blockdev': 'block special', 'file': 'regular', 'directory': 'directory'}
want = {}
for f in ET.parse(sys.argv[1]).getroot().iter(N + 'file'):
    p, t, m = f.get('path'), f.get('type'), f.get('mode')
    if p is None or m is None or f.get('class') == 'missing' or '"' in p:
        continue
    if t in ('fifo', 'socket', 'chardev', 'blockdev') or int(m, 8) & 0o7000:
        want[p] = f
bad = 0
for p, f in sorted(want.items()):
    out = subprocess.run(['debugfs', '-R', 'stat "%s"' % p, sys.argv[2]],
                         capture_output=True, text=True).stdout
    m = re.search(r'Type: (.*?)\s+Mode:\s+(\d+)', out)
    u = re.search(r'User:\s+(\d+)\s+Group:\s+(\d+)', out)
    got = (m.group(1), int(m.group(2), 8), u.group(1), u.group(2)) if m and u else None
    exp = (TYPES.get(f.get('type')), int(f.get('mode'), 8), f.get('uid'), f.get('gid'))
    if got != exp:
        print('%s: %s != %s' % (p, got, exp))
        bad += 1
    if f.get('rdev'):
        maj, mi = f.get('rdev').split(':')
        if not re.search(r'Device major/minor number: 0*%s:0*%s\b' % (maj, mi), out) and \
           not re.search(r'Device major/minor number: %02d:%02d' % (int(maj), int(mi)), out):
            print('%s: rdev differs' % p)
            bad += 1
print('checked %d special files, %d differences' % (len(want), bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}
