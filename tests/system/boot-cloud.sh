#!/bin/sh
# Proof by booting, for the cloud targets. The source root, its scan and
# the helpers are boot-lib.sh's (shared with boot-kvm.sh, and its cache).
#   1. --target azure: Hyper-V's VMBus cannot be emulated by QEMU, so the
#      image is not booted; its initramfs, read back from the image's
#      filesystem, must hold hv_vmbus, hv_storvsc and hv_netvsc, and
#      cloud-init (added) must be set to Azure's datasource.
#   2. --target aws from the same source without a kernel (as a container
#      or a paravirtualised guest is): the kernel comes from the
#      repository, the suite's own; the raw image boots under TCG with its
#      root disk on NVMe, as Nitro instances show it, and cloud-init (EC2's
#      datasource, only on EC2) must not hold the boot up waiting for a
#      metadata service: the marker must come within the bounded wait.
. "$(dirname "$0")/boot-lib.sh"
command -v debugfs >/dev/null 2>&1 || fail "debugfs is not installed (e2fsprogs)"

# part_of JSON MOUNTPOINT: "start size" in bytes of that partition
part_of() {
	python3 - "$1" "$2" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["partitions"]:
    if p["mountpoint"] == sys.argv[2]:
        print(p["start"], p["size"])
PY
}

# initrd_list FILE: the paths inside an initramfs: the uncompressed cpio
# archives at its start (early microcode) skipped, the compressed one
# read by bsdtar, whatever its compression
initrd_list() {
	python3 - "$1" <<'PY' | bsdtar -tf -
import sys
d = open(sys.argv[1], 'rb').read()
off = 0
while d[off:off + 6] in (b'070701', b'070702'):
    pos = off
    while True:
        h = d[pos:pos + 110]
        size, namesize = int(h[54:62], 16), int(h[94:102], 16)
        name = d[pos + 110:pos + 110 + namesize - 1]
        pos = (pos + 110 + namesize + 3) & ~3
        pos = (pos + size + 3) & ~3
        if name == b'TRAILER!!!':
            break
    while pos < len(d) and d[pos] == 0:
        pos += 1
    off = pos
sys.stdout.buffer.write(d[off:])
PY
}

# --- 1: azure, raw: the Hyper-V drivers in the initramfs ---
"$GEN" --report "$T/src.xml" --overlay "$T/overlay.tar" --repo "file://$C/debs" \
	--target azure --format raw --tmpdir "$T" --json -o "$T/azure.raw" \
	>"$T/azure.json" 2>"$T/azure.err" || { cat "$T/azure.err"; fail "reforge-gen --target azure failed"; }
cat "$T/azure.err"
echo "azure: generated in $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$T/azure.json") s"
grep -q ': added: cloud-init' "$T/azure.err" || fail "cloud-init was not added for azure"
grep -q 'removed: open-vm-tools' "$T/azure.err" || fail "open-vm-tools stayed on azure"
set -- $(part_of "$T/azure.json" /boot)
BOOTDIR=/
if [ -z "${2:-}" ]; then
	set -- $(part_of "$T/azure.json" /)
	BOOTDIR=/boot
fi
[ -n "${2:-}" ] || fail "no root partition in the azure record: $(cat "$T/azure.json")"
dd if="$T/azure.raw" of="$T/azure.fs" bs=1M iflag=skip_bytes,count_bytes \
	skip="$1" count="$2" status=none || fail "dd of the azure root"
INITRD=$(debugfs -R "ls -p $BOOTDIR" "$T/azure.fs" 2>/dev/null |
	awk -F/ '$6 ~ /^initrd\.img-/ {print $6; exit}')
[ -n "$INITRD" ] || fail "no initrd.img in the azure image's $BOOTDIR"
debugfs -R "dump $BOOTDIR/$INITRD $T/azure.initrd" "$T/azure.fs" >/dev/null 2>&1 ||
	fail "cannot read $INITRD from the azure image"
initrd_list "$T/azure.initrd" >"$T/azure.initrd.list" ||
	fail "cannot list the azure initramfs"
for m in hv_vmbus hv_storvsc hv_netvsc; do
	grep -q "/$m\.ko" "$T/azure.initrd.list" ||
		fail "azure: $m is not in the initramfs ($(grep -c '\.ko' "$T/azure.initrd.list") modules)"
done
echo "azure: $INITRD holds hv_vmbus, hv_storvsc, hv_netvsc"
debugfs -R "cat /etc/cloud/cloud.cfg.d/90-reforge-target.cfg" "$T/azure.fs" 2>/dev/null |
	grep -q 'datasource_list: \[ Azure, None \]' || fail "azure: cloud-init's datasource"
rm -f "$T/azure.raw" "$T/azure.fs" "$T/azure.initrd"

# --- 2: aws, raw, the source without a kernel, root disk on NVMe ---
# as a container: no kernel package in dpkg's database, no kernel files
python3 - "$R/var/lib/dpkg/status" <<'PY' || fail "cannot drop the kernel from dpkg's status"
import re, sys
s = open(sys.argv[1]).read()
st = [x for x in s.split('\n\n') if not re.match(r'Package: linux-image-', x)]
assert len(st) < len(s.split('\n\n'))
open(sys.argv[1], 'w').write('\n\n'.join(st))
PY
rm -rf "$R"/boot/vmlinuz-* "$R"/boot/initrd.img-* "$R"/boot/config-* \
	"$R"/boot/System.map-* "$R"/lib/modules/* "$R"/var/lib/dpkg/info/linux-image-*
"$SCAN" -q --root "$R" --report "$T/nok.xml" >/dev/null 2>&1 || fail "scan without a kernel failed"
grep -q 'name="linux-image-' "$T/nok.xml" && fail "the kernel is still in the scan"
make_overlay "$R" "$T/nok.xml" "$T/nok.tar"
set_storage "$T/nok.xml" "$T/nok.xml" '<storage/>'
"$GEN" --report "$T/nok.xml" --overlay "$T/nok.tar" --repo "file://$C/debs" \
	--target aws --format raw --tmpdir "$T" --json -o "$T/aws.raw" \
	>"$T/aws.json" 2>"$T/aws.err" || { cat "$T/aws.err"; fail "reforge-gen --target aws failed"; }
cat "$T/aws.err"
echo "aws: generated in $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$T/aws.json") s"
grep -q ': added: linux-image-amd64 ' "$T/aws.err" ||
	fail "aws: the suite's kernel metapackage was not installed"
grep -q 'kernel: .* from the repositories' "$T/aws.err" || fail "aws: the kernel is not said"
grep -q 'drivers in the initramfs: .*nvme' "$T/aws.err" || fail "aws: nvme is not in the initramfs"
grep -q ': added: cloud-init' "$T/aws.err" || fail "cloud-init was not added for aws"
python3 - "$T/aws.json" <<'PY' || fail "the aws record is incomplete: $(cat "$T/aws.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["target"] == "aws", d
t = {c["path"]: c["why"] for c in d["tuning"]}
for p in ("/etc/fstab", "/etc/cloud/cloud.cfg.d/90-reforge-target.cfg",
          "/var/lib/dpkg/info/linux-image-amd64.list",
          "/var/lib/dpkg/info/cloud-init.list", "/etc/initramfs-tools/modules"):
    assert p in t, "not in the record: " + p
PY
boot "$T/aws.raw" raw aws -device nvme,drive=d0,serial=reforge0 \
	-nic user,model=virtio-net-pci
has nginx=active
has ssh=active
has vmtools=absent
has cloudinit=present
has eth0=10.0.2.15/24
case "$MARK" in *"root=/dev/nvme0n1"*) ;; *) fail "aws: root is not on the NVMe disk: $MARK" ;; esac

ls "$T" | grep -q '^reforge-gen\.' && fail "a staging directory was left behind"
echo "boot-cloud: all checks passed"
