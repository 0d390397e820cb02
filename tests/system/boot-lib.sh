# Shared by the boot tests (boot-kvm.sh, boot-cloud.sh): the Debian source
# root made by mmdebstrap (cached in REFORGE_BOOT_CACHE), its marker unit,
# its scan ($T/src.xml, $T/overlay.tar), and the helpers
# drop_packages, boot and has (set_storage is gen-lib.sh's). Sourced, not
# run.
. "$(dirname "$0")/gen-lib.sh"
# tools/check's distcheck pass sets this: the boots already ran twice
[ -z "${REFORGE_QUICK:-}" ] || skip "REFORGE_QUICK: the boot tests ran in the main passes"
for tool in mmdebstrap qemu-system-x86_64 qemu-img grub-mkimage bsdtar \
	python3 mke2fs mkfs.vfat mcopy; do
	command -v $tool >/dev/null 2>&1 ||
		fail "$tool is not installed (tools/debian-packages lists it)"
done
[ "$(id -u)" -eq 0 ] || fail "mmdebstrap, chroot and owners need root"
scratch
C=${REFORGE_BOOT_CACHE:-$T/cache}
mkdir -p "$C"
BOOT_WAIT=${REFORGE_BOOT_WAIT:-300}

# --- the source ---
# one builder at a time (boot-kvm.sh and boot-cloud.sh share the cache);
# a cache from before cloud-init was downloaded is made again
exec 9>"$C/.lock"
flock 9 || fail "cannot lock $C"
if [ ! -f "$C/root.tar" ] || ! ls "$C"/debs/cloud-init_*.deb >/dev/null 2>&1; then
	rm -f "$C/root.tar"
	rm -rf "$C/debs" && mkdir -p "$C/debs"
	# the .deb files stay (essential/unlink skipped) and are synced out
	# as the repository reforge-gen takes packages from; the targets'
	# guest agent, cloud-init and GRUB for UEFI are downloaded but not
	# installed
	mmdebstrap --variant=minbase --skip=essential/unlink \
		--include=systemd-sysv,linux-image-amd64,udev,ifupdown,isc-dhcp-client,openssh-server,nginx-light,grub-pc,open-vm-tools,iproute2 \
		--customize-hook='chroot "$1" apt-get -y --download-only install qemu-guest-agent cloud-init grub-efi-amd64-bin' \
		--customize-hook="sync-out /var/cache/apt/archives $C/debs" \
		bookworm "$C/root.tar" - </etc/apt/sources.list.d/debian.sources \
		>"$T/mmdebstrap.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		rm -f "$C/root.tar"
		if grep -qiE 'Failed to fetch|Could not resolve|Temporary failure|Unable to connect|Connection (timed out|refused)|Network is unreachable|Cannot initiate the connection' \
			"$T/mmdebstrap.log"; then
			tail -5 "$T/mmdebstrap.log" >&2
			skip "the Debian mirror is unreachable (mmdebstrap could not download)"
		fi
		tail -30 "$T/mmdebstrap.log" >&2
		fail "mmdebstrap failed (exit $rc)"
	fi
fi
ls "$C/debs"/*.deb >/dev/null 2>&1 || fail "mmdebstrap kept no .deb files"
ls "$C/debs"/qemu-guest-agent_*.deb >/dev/null 2>&1 ||
	fail "qemu-guest-agent was not downloaded"
exec 9>&-
R="$T/root"
mkdir "$R"
tar -C "$R" -xpf "$C/root.tar" || fail "cannot unpack the source root"
ls "$R"/boot/vmlinuz-* >/dev/null 2>&1 || fail "the source has no kernel"

cat >"$R/usr/local/sbin/reforge-marker" <<'EOF'
#!/bin/sh
# what the booted image sees, on one line of the serial console
i=0
while [ $i -lt 30 ] && ! ip -4 -o addr show dev eth0 2>/dev/null | grep -q inet; do
	sleep 1; i=$((i + 1))
done
st() { systemctl is-active "$1" 2>/dev/null | head -1; }
pkg() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' &&
		echo present || echo absent
}
ip=$(ip -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}' | head -1)
keys=$(ls /etc/ssh/ssh_host_*_key 2>/dev/null | wc -l)
echo "REFORGE-BOOT-OK nginx=$(st nginx) ssh=$(st ssh) vmtools=$(pkg open-vm-tools) qga=$(pkg qemu-guest-agent) cloudinit=$(pkg cloud-init) eth0=${ip:-none} hostkeys=$keys machineid=$(cat /etc/machine-id) root=$(findmnt -no SOURCE /) rootfs=$(findmnt -no FSTYPE /)" >/dev/ttyS0
EOF
chmod 755 "$R/usr/local/sbin/reforge-marker"
cat >"$R/etc/systemd/system/reforge-marker.service" <<'EOF'
[Unit]
Description=reforge boot test marker
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/reforge-marker

[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/reforge-marker.service \
	"$R/etc/systemd/system/multi-user.target.wants/reforge-marker.service"
# the source's network: a NIC by a name the target will not have, a rule
# bound to its MAC address, an NFS mount the image cannot reach
printf 'auto lo\niface lo inet loopback\n\nallow-hotplug ens192\niface ens192 inet dhcp\n' \
	>"$R/etc/network/interfaces"
printf 'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="00:50:56:aa:bb:cc", NAME="ens192"\n' \
	>"$R/etc/udev/rules.d/70-persistent-net.rules"
printf 'UUID=0b3c6f5e-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1\nfiler:/export/data /data nfs defaults 0 0\n' \
	>"$R/etc/fstab"
echo 0123456789abcdef0123456789abcdef >"$R/etc/machine-id"
chroot "$R" ssh-keygen -A >/dev/null 2>&1 || true
SRCKEY=$(cat "$R"/etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null)
[ -n "$SRCKEY" ] || fail "the source has no SSH host key"
echo "root:x:0:0:root:/root:/bin/sh" >/dev/null

"$SCAN" -q --root "$R" --report "$T/src.xml" >/dev/null 2>"$T/scan.err" ||
	{ cat "$T/scan.err"; fail "reforge-scan of the source failed"; }
make_overlay "$R" "$T/src.xml" "$T/overlay.tar"
# the storage of a machine with one disk, whatever the scanner made of
# this root's fstab
set_storage "$T/src.xml" "$T/src.xml" '<storage/>'
grep -q 'name="open-vm-tools"' "$T/src.xml" || fail "the scan lacks open-vm-tools"

# drop_packages IN OUT PREFIX: the report without the packages whose name
# starts with PREFIX (as if the source had never had them)
drop_packages() {
	python3 - "$1" "$2" "$3" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
s, n = re.subn(r'\s*<package [^>]*name="%s[^"]*"[^>]*?(/>|>.*?</package>)'
               % re.escape(sys.argv[3]), '', s, flags=re.S)
assert n > 0
open(sys.argv[2], 'w').write(s)
PY
}

# boot IMAGE FORMAT NAME QEMU-DEVICE-ARGS...: boot with a bounded wait
# until the marker line; print the boot log on failure
boot() {
	_img=$1 _fmt=$2 _name=$3
	shift 3
	_log="$T/$_name.serial"
	: >"$_log"
	_t0=$(date +%s)
	qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -display none \
		-serial "file:$_log" -no-reboot -snapshot \
		-drive "file=$_img,format=$_fmt,if=none,id=d0" "$@" \
		>"$T/$_name.qemu" 2>&1 &
	_qemu=$!
	_i=0
	while ! grep -q 'REFORGE-BOOT-OK' "$_log" 2>/dev/null; do
		if ! kill -0 $_qemu 2>/dev/null; then
			cat "$T/$_name.qemu" "$_log" >&2
			fail "$_name: qemu ended before the marker"
		fi
		_i=$((_i + 1))
		if [ $_i -gt "$BOOT_WAIT" ]; then
			kill $_qemu
			wait $_qemu 2>/dev/null
			echo "--- boot log of $_name ---" >&2
			cat "$_log" >&2
			fail "$_name: no marker after $BOOT_WAIT s"
		fi
		sleep 1
	done
	sleep 1
	kill $_qemu
	wait $_qemu 2>/dev/null
	MARK=$(grep -a 'REFORGE-BOOT-OK' "$_log" | tr -d '\r' | head -1)
	echo "$_name: marker after $(($(date +%s) - _t0)) s: $MARK"
}

# has KEY=VALUE: the marker says so
has() {
	case " $MARK " in
	*" $1 "*) ;;
	*) echo "--- boot log ---" >&2; cat "$_log" >&2
	   fail "$_name: expected $1 in: $MARK" ;;
	esac
}

