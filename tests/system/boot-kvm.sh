#!/bin/sh
# Proof by booting. A Debian source root is built with mmdebstrap (kernel,
# systemd, GRUB, ssh, nginx, open-vm-tools as if it came from VMware, an
# ifupdown NIC by its predictable name, a MAC-bound udev rule, an NFS
# mount, and a unit of its own that prints a marker line on the serial
# console after multi-user.target). It is scanned, and reforge-gen makes:
#   1. a qcow2 image for --target kvm (GPT, BIOS boot partition), booted
#      by qemu-system-x86_64 (TCG) on virtio disk and network;
#   2. a streamOptimized VMDK for --target vmware (MBR), booted on PVSCSI
#      and vmxnet3, the devices VMware gives it.
#   3. a qcow2 for --target openstack from a source that booted UEFI (GPT,
#      EFI system partition), booted by OVMF; cloud-init is added with
#      OpenStack's datasources and must not hold the boot up.
# Each boot must reach the marker within a bounded wait; the marker line
# says what the booted system sees: nginx and ssh active, open-vm-tools
# gone on kvm (kept on vmware), qemu-guest-agent added on kvm, an address
# by DHCP on eth0, new SSH host keys and a new machine-id. The record
# (--json "tuning") must name the changes. Bad input fails before any
# image is written: no kernel anywhere, no initramfs tool, a root
# filesystem GRUB cannot boot.
# The source and the helpers are boot-lib.sh's; boot-cloud.sh boots aws.
# Set REFORGE_BOOT_CACHE=DIR to keep the mmdebstrap root between runs.
. "$(dirname "$0")/boot-lib.sh"

# --- bad input: fails before any image is written ---
# no initramfs tool: the tree can not get the target's drivers
mkdir "$T/noinitramfs"
for f in "$C"/debs/*.deb; do
	case "$(basename "$f")" in initramfs-tools*) ;; *) ln -s "$f" "$T/noinitramfs/" ;; esac
done
drop_packages "$T/src.xml" "$T/noi.xml" initramfs-tools ||
	fail "cannot drop initramfs-tools from the report"
"$GEN" -q --report "$T/noi.xml" --overlay "$T/overlay.tar" --repo "file://$T/noinitramfs" \
	--missing-ok --tmpdir "$T" -o "$T/noi.qcow2" 2>"$T/noi.err"
rc=$?
[ $rc -eq 1 ] || fail "a tree without an initramfs tool did not fail (exit $rc): $(tail -5 "$T/noi.err")"
grep -q 'no initramfs tool' "$T/noi.err" ||
	fail "unclear message without an initramfs tool: $(cat "$T/noi.err")"
[ -e "$T/noi.qcow2" ] && fail "an image was written without an initramfs tool"
# no kernel in the source and none in any repository
mkdir "$T/nokernel"
for f in "$C"/debs/*.deb; do
	case "$(basename "$f")" in linux-image-*) ;; *) ln -s "$f" "$T/nokernel/" ;; esac
done
rm -f "$R"/boot/vmlinuz-*
"$SCAN" -q --root "$R" --report "$T/nok.xml" >/dev/null 2>&1 || fail "scan without a kernel failed"
make_overlay "$R" "$T/nok.xml" "$T/nok.tar"
drop_packages "$T/nok.xml" "$T/nok2.xml" linux-image- ||
	fail "cannot drop the kernel from the report"
"$GEN" -q --report "$T/nok2.xml" --overlay "$T/nok.tar" --repo "file://$T/nokernel" \
	--missing-ok --tmpdir "$T" -o "$T/nok.qcow2" 2>"$T/nok.err"
[ $? -eq 1 ] || fail "no kernel anywhere did not fail"
grep -q 'no kernel' "$T/nok.err" || fail "unclear message without a kernel: $(cat "$T/nok.err")"
[ -e "$T/nok.qcow2" ] && fail "an image was written without a kernel"
# a root filesystem GRUB cannot boot
set_storage "$T/src.xml" "$T/zfs.xml" \
	'<storage><filesystem kind="disk" mountpoint="/" type="zfs" size="1000000" used="1"/></storage>'
if grep -q 'type="zfs"' "$T/zfs.xml"; then
	"$GEN" -q --report "$T/zfs.xml" --overlay "$T/overlay.tar" --repo "file://$C/debs" \
		--tmpdir "$T" -o "$T/zfs.qcow2" 2>"$T/zfs.err"
	[ $? -eq 1 ] || fail "a zfs root did not fail"
	grep -q 'zfs' "$T/zfs.err" || fail "unclear message for a zfs root: $(cat "$T/zfs.err")"
	[ -e "$T/zfs.qcow2" ] && fail "an image was written for a zfs root"
fi
# --- 1: kvm, qcow2, GPT ---
"$GEN" --report "$T/src.xml" --overlay "$T/overlay.tar" --repo "file://$C/debs" \
	--target kvm --format qcow2 --tmpdir "$T" --json -o "$T/kvm.qcow2" \
	>"$T/kvm.json" 2>"$T/kvm.err" || { cat "$T/kvm.err"; fail "reforge-gen --target kvm failed"; }
cat "$T/kvm.err"
echo "kvm: generated in $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$T/kvm.json") s"
qemu-img check -q "$T/kvm.qcow2" || fail "qemu-img check of the kvm image failed"
python3 - "$T/kvm.json" <<'PY' || fail "the kvm record is incomplete: $(cat "$T/kvm.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["target"] == "kvm" and d["table"] == "gpt", d
t = {c["path"]: c["why"] for c in d["tuning"]}
for p in ("/etc/fstab", "/boot/grub/grub.cfg", "/etc/machine-id",
          "/etc/network/interfaces", "/etc/udev/rules.d/70-persistent-net.rules",
          "/etc/ssh/ssh_host_ed25519_key", "/var/lib/dpkg/info/qemu-guest-agent.list",
          "/usr/bin/vmtoolsd", "/etc/initramfs-tools/modules"):
    assert p in t, "not in the record: " + p
assert "open-vm-tools" in t["/usr/bin/vmtoolsd"], t["/usr/bin/vmtoolsd"]
assert any(p.startswith("/boot/initrd.img-") for p in t), "initramfs not recorded"
PY
grep -q 'removed: open-vm-tools' "$T/kvm.err" || fail "the log does not say open-vm-tools was removed"
grep -q ': added: qemu-guest-agent' "$T/kvm.err" || fail "the log does not say qemu-guest-agent was added"
boot "$T/kvm.qcow2" qcow2 kvm -device virtio-blk-pci,drive=d0 \
	-nic user,model=virtio-net-pci
has nginx=active
has ssh=active
has vmtools=absent
has qga=present
has eth0=10.0.2.15/24
has hostkeys=3
case "$MARK" in *machineid=0123456789abcdef*) fail "kvm: the source's machine-id survived" ;; esac
case "$MARK" in *"root=/dev/vda"*) ;; *) fail "kvm: root is not on the virtio disk: $MARK" ;; esac

# --- 2: vmware, streamOptimized VMDK, MBR, on PVSCSI and vmxnet3 ---
# vmware: an MBR disk whose root filesystem was xfs (made by mkfs.xfs, read
# by GRUB's xfs module, mounted by the kernel's); what mkfs.xfs -p cannot
# carry (hardlinks, xattrs) is a warning, exit 3
set_storage "$T/src.xml" "$T/mbr.xml" \
	'<storage><disk name="sda" size="1" sector-size="512" table="msdos"/><filesystem kind="disk" mountpoint="/" type="xfs" size="4000000000" used="1"/></storage>'
grep -q 'table="msdos"' "$T/mbr.xml" || fail "could not make the MBR report"
"$GEN" --report "$T/mbr.xml" --overlay "$T/overlay.tar" --repo "file://$C/debs" \
	--target vmware --format vmdk --options subformat=streamOptimized \
	--tmpdir "$T" --json -o "$T/vmw.vmdk" >"$T/vmw.json" 2>"$T/vmw.err"
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 3 ] ||
	{ cat "$T/vmw.err"; fail "reforge-gen --target vmware failed (exit $rc)"; }
cat "$T/vmw.err"
python3 - "$T/vmw.json" <<'PY' || fail "the vmware root is not xfs: $(cat "$T/vmw.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["table"] == "msdos", d["table"]
assert [p["type"] for p in d["partitions"] if p.get("mountpoint") == "/"] == ["xfs"], d["partitions"]
PY
echo "vmware: generated in $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$T/vmw.json") s"
qemu-img check -q "$T/vmw.vmdk" || fail "qemu-img check of the VMDK failed"
qemu-img info "$T/vmw.vmdk" | grep -q streamOptimized || fail "not a streamOptimized VMDK"
grep -q 'vmw_pvscsi' "$T/vmw.err" || fail "the vmware drivers are not logged"
boot "$T/vmw.vmdk" vmdk vmware -device pvscsi,id=scsi0 \
	-device scsi-hd,drive=d0,bus=scsi0.0 -nic user,model=vmxnet3
has nginx=active
has ssh=active
has vmtools=present
has qga=absent
has eth0=10.0.2.15/24
case "$MARK" in *"root=/dev/sda"*) ;; *) fail "vmware: root is not on the SCSI disk: $MARK" ;; esac
has rootfs=xfs

# --- 3: openstack, UEFI (OVMF), qcow2: GPT with an EFI system partition;
# the tree lacks GRUB for UEFI, which comes from the repository ---
sed 's|<boot firmware="[a-z]*"/>|<boot firmware="efi"/>|' "$T/src.xml" >"$T/efi.xml"
grep -q '<boot firmware="efi"/>' "$T/efi.xml" || fail "could not make the UEFI report"
"$GEN" --report "$T/efi.xml" --overlay "$T/overlay.tar" --repo "file://$C/debs" \
	--target openstack --format qcow2 --tmpdir "$T" --json -o "$T/efi.qcow2" \
	>"$T/efi.json" 2>"$T/efi.err" || { cat "$T/efi.err"; fail "reforge-gen --target openstack (UEFI) failed"; }
cat "$T/efi.err"
echo "openstack: generated in $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$T/efi.json") s"
python3 - "$T/efi.json" <<'PY' || fail "unexpected UEFI layout: $(cat "$T/efi.json")"
import json, sys
d = json.load(open(sys.argv[1]))
types = [p["type"] for p in d["partitions"]]
assert "vfat" in types and "bios-boot" not in types, types
assert "/boot/efi/EFI/BOOT/BOOTX64.EFI" in [c["path"] for c in d["tuning"]]
PY
grep -q ': added: cloud-init' "$T/efi.err" || fail "cloud-init was not added for openstack"
grep -q '/etc/cloud/cloud.cfg.d/90-reforge-target.cfg' "$T/efi.json" ||
	fail "the openstack datasource is not in the record"
if [ ! -d "$R/usr/lib/grub/x86_64-efi" ]; then
	grep -q ': added: grub-efi-amd64-bin' "$T/efi.err" ||
		fail "GRUB for UEFI was not installed from the repository"
fi
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$T/vars.fd" || fail "no OVMF (package ovmf)"
boot "$T/efi.qcow2" qcow2 openstack \
	-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
	-drive "if=pflash,format=raw,file=$T/vars.fd" \
	-device virtio-blk-pci,drive=d0 -nic user,model=virtio-net-pci
has nginx=active
has vmtools=absent
has qga=present
has cloudinit=present
has eth0=10.0.2.15/24

ls "$T" | grep -q '^reforge-gen\.' && fail "a staging directory was left behind"
echo "boot-kvm: all checks passed"
