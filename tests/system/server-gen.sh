#!/bin/sh
# Image jobs in reforge-server: a dpkg root (two packages from a deb
# repository made at test time, one package in no repository, a modified
# conffile, unowned files, a symlink, a device node) is scanned to the
# server; `reforge generate` makes a qcow2 image of it in the server's
# worker pool, which is downloaded (and resumed with Range), checked with
# qemu-img, and its ext4 filesystem (extracted with debugfs, no mount)
# compared with the source scan. Then: a job cancelled while its
# generator runs, a server killed -9 in the middle of a job (the job is
# failed, not left running, its staging removed), a bad scan id, no token.
. "$(dirname "$0")/gen-lib.sh"
. "$(dirname "$0")/repo-fixtures.sh"
need dpkg-deb dpkg apt-ftparchive xz python3 curl qemu-img debugfs bsdtar
[ "$(id -u)" -eq 0 ] || skip "owners and device nodes need root"
scratch

SRV="$top_builddir/reforge-server"
CLI="$top_builddir/reforge"
D="$T/data"
SPID=
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

# the generator the server runs: reforge-gen itself, or, while $T/hold
# exists, a stand-in that waits (in the job's process group) so that a
# test can act on a running job; while $T/tuned exists, reforge-gen whose
# --json output gets the tuning list of $T/tuning.json (this fixture has
# no kernel to tune: boot-kvm.sh checks reforge-gen's own list; here the
# server must keep and show whatever list reforge-gen printed)
cat >"$T/gen" <<EOF
#!/bin/sh
if [ -e "$T/hold" ]; then
	echo \$\$ >"$T/held.pid"
	exec sleep 30
fi
if [ -e "$T/tuned" ]; then
	"$GEN" "\$@" >"$T/gen.out"
	rc=\$?
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
d["tuning"] = json.load(open(sys.argv[2]))
print(json.dumps(d))' "$T/gen.out" "$T/tuning.json" || exit 1
	exit \$rc
fi
exec "$GEN" "\$@"
EOF
chmod 755 "$T/gen"

start_server() {
	rm -f "$T/port"
	"$SRV" --data "$D" --listen 127.0.0.1:0 --port-file "$T/port" \
		--generator "$T/gen" --workers 1 2>>"$T/server.log" &
	SPID=$!
	wait_port "$T/port" "$T/server.log"
	URL="http://127.0.0.1:$(cat "$T/port")"
	R="$CLI --server $URL --token-file $T/token"
}
jq() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
state() { $R --json image show "$1" | jq 'j["state"]'; }
# wait_state JOB STATE...: until the job is in one of the states (20 s)
wait_state() {
	_j=$1
	shift
	i=0
	while :; do
		_s=$(state "$_j")
		for _w in "$@"; do
			[ "$_s" = "$_w" ] && return 0
		done
		i=$((i + 1))
		[ $i -lt 200 ] || fail "job $_j is $_s, not $*: $($R image show "$_j")"
		sleep 0.1
	done
}

# wait_held: until the stand-in generator runs (10 s)
wait_held() {
	i=0
	while [ ! -s "$T/held.pid" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "the generator never started"
		sleep 0.1
	done
}

"$SRV" --data "$D" token create t >"$T/token" || fail "token create"
start_server

# --- the source: a dpkg root ------------------------------------------------
P="$T/pkgs"
mkdir -p "$P/rf-alpha/usr/share/alpha" "$P/rf-alpha/etc" "$P/rf-alpha/usr/bin" \
	"$P/rf-beta/usr/lib/beta" "$P/rf-orphan/usr/share/orphan"
echo "alpha data" >"$P/rf-alpha/usr/share/alpha/data.txt"
echo "setting = 1" >"$P/rf-alpha/etc/alpha.conf"
printf '#!/bin/sh\necho alpha\n' >"$P/rf-alpha/usr/bin/alpha"
chmod 755 "$P/rf-alpha/usr/bin/alpha"
ln -s /usr/bin/alpha "$P/rf-alpha/usr/bin/alpha-abs"
echo "beta lib" >"$P/rf-beta/usr/lib/beta/lib.txt"
echo "in no repository" >"$P/rf-orphan/usr/share/orphan/data"
head -c 30000 /dev/urandom >"$P/rf-orphan/usr/share/orphan/blob"
make_deb "$P" rf-alpha 1.0-1 /etc/alpha.conf
make_deb "$P" rf-beta 2.3
make_deb "$P" rf-orphan 0.1
ROOT="$T/root"
new_dpkg_root "$ROOT"
dpkg --root="$ROOT" --force-not-root --force-depends -i "$P/rf-alpha.deb" \
	"$P/rf-beta.deb" "$P/rf-orphan.deb" >"$T/dpkg.log" 2>&1 ||
	fail "dpkg: $(cat "$T/dpkg.log")"
echo "setting = 2" >"$ROOT/etc/alpha.conf"
mkdir -p "$ROOT/opt/app" "$ROOT/srv"
echo "mine" >"$ROOT/opt/app/tool"
chmod 750 "$ROOT/opt/app/tool"
chown 1000:1000 "$ROOT/opt/app/tool"
ln -s tool "$ROOT/opt/app/link"
: >"$ROOT/opt/app/empty"
mknod "$ROOT/srv/null" c 1 3
mkfifo "$ROOT/srv/fifo"
printf 'root:x:0:0::/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"

REPO1="$T/repo1"
mkdir -p "$REPO1/pool"
cp "$P/rf-alpha.deb" "$P/rf-beta.deb" "$REPO1/pool/"
deb_repo "$REPO1"
$R repo add main --kind deb --url "file://$REPO1" --suite test \
	--components main --arch amd64 >/dev/null || fail "repo add"
$R repo refresh main >/dev/null || fail "repo refresh"

"$SCAN" -q -r "$ROOT" --server "$URL" --token-file "$T/token" --name host \
	>/dev/null 2>"$T/scan.err" || fail "scan: $(cat "$T/scan.err")"
grep -q ", 1 packages in no repository" "$T/scan.err" ||
	fail "rf-orphan is in a repository? $(cat "$T/scan.err")"
S=$($R --json scans | jq 'j["scans"][-1]["id"]')
"$SCAN" -q -r "$ROOT" --report "$T/src.xml" >/dev/null 2>&1 || fail "local scan"

# --- errors -----------------------------------------------------------------
$R generate 9999 --format qcow2 2>"$T/err" && fail "a job for no scan"
grep -q 404 "$T/err" || fail "bad scan id: $(cat "$T/err")"
$R generate "$S" --format nonsense 2>"$T/err" && fail "a bad format"
grep -q 422 "$T/err" || fail "bad format: $(cat "$T/err")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/images")" = 401 ] ||
	fail "the image list without a token"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"scan":1}' \
	"$URL/api/v1/images")" = 401 ] || fail "generate without a token"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/images/1/file")" = 401 ] ||
	fail "download without a token"

# --- a qcow2 image ----------------------------------------------------------
J=$($R --json generate "$S" --format qcow2 --target none | jq 'j["id"]')
wait_state "$J" done failed
[ "$(state "$J")" = done ] || fail "the job failed: $($R image show "$J")"
$R images | grep -q "^$J .* done .* 100" || fail "images: $($R images)"
$R image show "$J" | grep -q "packages: 2 from the repositories, 1 in no" ||
	fail "the log: $($R image show "$J")"
[ -z "$(ls "$D/jobs")" ] || fail "staging left: $(ls -R "$D/jobs")"
# the jobs' payload cache: the two packages' payloads, kept under 4 GiB
$R image show "$J" | grep -q -- "--cache $D/payload-cache --cache-max 4294967296" ||
	fail "the generator did not get the payload cache: $($R image show "$J")"
[ "$(ls "$D/payload-cache" | grep -c '^deb-sha256-[0-9a-f]\{64\}\.zst$')" -eq 2 ] ||
	fail "payload cache: $(ls -la "$D/payload-cache")"
[ "$(stat -c %a "$D/payload-cache")" = 700 ] || fail "the payload cache is not 700"
$R image download "$J" -o "$T/img.qcow2" >/dev/null || fail "download"
qemu-img check -q "$T/img.qcow2" || fail "qemu-img check"
[ "$(qemu-img info --output=json "$T/img.qcow2" | jq 'j["format"]')" = qcow2 ] ||
	fail "not a qcow2 image"
# resumed: half of it already there as .part
head -c $(($(stat -c %s "$T/img.qcow2") / 2)) "$T/img.qcow2" >"$T/again.qcow2.part"
$R image download "$J" -o "$T/again.qcow2" >/dev/null || fail "resumed download"
cmp "$T/img.qcow2" "$T/again.qcow2" || fail "the resumed download differs"
[ ! -e "$T/again.qcow2.part" ] || fail ".part left behind"
[ "$(curl -s -H "Authorization: Bearer $(cat "$T/token")" -r 0-9 \
	-w '%{http_code}' -o "$T/ten" "$URL/api/v1/images/$J/file")" = 206 ] ||
	fail "a range of the image"
[ "$(stat -c %s "$T/ten")" = 10 ] || fail "Range: bytes=0-9 is not 10 bytes"

# the image holds the source's files
qemu-img convert -O raw "$T/img.qcow2" "$T/img.raw" || fail "qemu-img convert"
part "$T/img.raw" "$T/fs.img"
rm -f "$T/img.raw"
mkdir "$T/ex"
debugfs -R "rdump / $T/ex" "$T/fs.img" >/dev/null 2>&1 || fail "debugfs rdump"
[ "$(cat "$T/ex/etc/alpha.conf")" = "setting = 2" ] || fail "the modified conffile"
[ "$(cat "$T/ex/opt/app/tool")" = mine ] || fail "an unowned file"
cmp "$T/ex/usr/share/orphan/blob" "$P/rf-orphan/usr/share/orphan/blob" ||
	fail "a file of the package in no repository"
cmp "$T/ex/usr/lib/beta/lib.txt" "$P/rf-beta/usr/lib/beta/lib.txt" ||
	fail "a file of a repository's package"
[ "$(readlink "$T/ex/opt/app/link")" = tool ] || fail "an unowned symlink"
debugfs -R "stat /srv/null" "$T/fs.img" 2>/dev/null | grep -q "character special" ||
	fail "the device node"
"$SCAN" -q --root "$T/ex" --report "$T/gen.xml" >/dev/null 2>&1 || fail "scan of the image"
compare_reports "$T/src.xml" "$T/gen.xml" || fail "the image differs from the source"

# --- what tuning changed: kept beside the image, shown with the job --------
$R image show "$J" | grep -q "^tuning: *0 changes" ||
	fail "no target, no tuning: $($R image show "$J")"
cat >"$T/tuning.json" <<'EOF'
[{"path": "/etc/fstab", "why": "root and /boot on the new UUIDs"},
 {"path": "/etc/netplan/50-cloud-init.yaml", "why": "netplan: ethN"},
 {"path": "/etc/odd\nname", "why": "a name with a newline"}]
EOF
touch "$T/tuned"
J6=$($R --json generate "$S" --format qcow2 --target none | jq 'j["id"]')
wait_state "$J6" done failed
rm -f "$T/tuned"
[ "$(state "$J6")" = done ] || fail "the tuned job: $($R image show "$J6")"
[ -s "$D/images/$J6.tuning.json" ] || fail "no tuning record beside the image"
$R image show "$J6" >"$T/show" || fail "image show"
grep -q "^tuning: *3 changes" "$T/show" || fail "tuning count: $(cat "$T/show")"
grep -q "^  /etc/fstab  *root and /boot on the new UUIDs$" "$T/show" ||
	fail "the record lacks etc/fstab: $(cat "$T/show")"
grep -qF '  /etc/odd\nname ' "$T/show" || fail "a control character printed raw"
[ "$($R --json image show "$J6" | jq 'j["tuning"][0]["path"]')" = /etc/fstab ] ||
	fail "image show --json: $($R --json image show "$J6")"

# --- cancel a running job ---------------------------------------------------
touch "$T/hold"
J2=$($R --json generate "$S" --format raw --target none | jq 'j["id"]')
wait_state "$J2" running
wait_held
HELD=$(cat "$T/held.pid")
[ -s "$D/jobs/$J2/overlay.tar" ] || fail "no staging while running"
$R image cancel "$J2" >/dev/null || fail "cancel"
[ "$(state "$J2")" = cancelled ] || fail "cancel: $(state "$J2")"
kill -0 "$HELD" 2>/dev/null && fail "the generator survived its cancel"
[ ! -e "$D/jobs/$J2" ] || fail "a cancelled job's staging is left"
[ ! -e "$D/images/$J2.raw" ] || fail "a cancelled job has an image"
$R image cancel "$J2" 2>"$T/err" && fail "cancelled twice"
grep -q 409 "$T/err" || fail "cancel twice: $(cat "$T/err")"
$R image download "$J2" -o "$T/x" 2>"$T/err" && fail "downloaded a cancelled job"
grep -q 409 "$T/err" || fail "download cancelled: $(cat "$T/err")"

# --- the server killed -9 while a job runs ----------------------------------
rm -f "$T/held.pid"
J3=$($R --json generate "$S" --format vmdk --target none | jq 'j["id"]')
wait_held
HELD=$(cat "$T/held.pid")
kill -9 $SPID
wait $SPID 2>/dev/null
i=0
while kill -0 "$HELD" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "the generator outlived its server"
	sleep 0.1
done
rm -f "$T/hold"
start_server
[ "$(state "$J3")" = failed ] || fail "after a crash: $(state "$J3")"
$R --json image show "$J3" | jq 'j["error"]' | grep -q "server restarted" ||
	fail "the crash is not said"
[ ! -e "$D/jobs/$J3" ] || fail "the crashed job's staging is left"
$R --json image show "$J6" | jq '[c["path"] for c in j["tuning"]]' |
	grep -q "'/etc/fstab'" || fail "the tuning record did not survive the restart"
# the pool still works after the restart
J4=$($R --json generate "$S" --format raw --disk-size 200M --target none |
	jq 'j["id"]')
wait_state "$J4" done failed
[ "$(state "$J4")" = done ] || fail "after the restart: $($R image show "$J4")"
[ "$(stat -c %s "$D/images/$J4.raw")" = $((200 * 1048576)) ] || fail "--disk-size"

# --- a server stopped (SIGTERM) mid-job puts the job back in the queue ------
touch "$T/hold"
rm -f "$T/held.pid"
J5=$($R --json generate "$S" --format qcow2 --target none | jq 'j["id"]')
wait_held
kill $SPID
wait $SPID || fail "the server's exit status on SIGTERM: $?"
rm -f "$T/hold"
start_server
wait_state "$J5" done failed
[ "$(state "$J5")" = done ] || fail "the requeued job: $($R image show "$J5")"
$R image show "$J5" | grep -q "back in the queue" || fail "requeue not logged"

# --- delete -----------------------------------------------------------------
$R image delete "$J4" >/dev/null || fail "delete"
[ ! -e "$D/images/$J4.raw" ] || fail "a deleted job's image is left"
$R image show "$J4" 2>"$T/err" && fail "a deleted job is shown"
grep -q 404 "$T/err" || fail "deleted: $(cat "$T/err")"
$R image delete "$J6" >/dev/null || fail "delete the tuned job"
[ ! -e "$D/images/$J6.tuning.json" ] || fail "a deleted job's tuning record is left"
kill $SPID
wait $SPID || fail "the server's exit status on SIGTERM: $?"
SPID=
grep -q "Sanitizer" "$T/server.log" && fail "sanitizer: $(cat "$T/server.log")"
# a bad payload cache limit is bad usage
"$SRV" --data "$D" --payload-cache-max lots 2>"$T/err" </dev/null
[ $? -eq 2 ] || fail "--payload-cache-max lots is not bad usage"
grep -q 'payload-cache-max' "$T/err" || fail "unclear message: $(cat "$T/err")"
echo "server-gen: all checks passed"
