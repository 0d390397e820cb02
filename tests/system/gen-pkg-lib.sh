# Helpers of gen-rpm.sh and gen-pacman.sh, whose roots hold the same
# paths (/usr/share/alpha/data.txt and its hardlink data-link.txt, gone.txt
# removed on the source, /opt/app/tool with user.rf): sourced, not run.
. "$(dirname "$0")/gen-lib.sh"

# gen_image N [OPTION...]: reforge-gen --target none --format raw (and the
# options) of $T/src.xml and
# $T/overlay.tar from file://$T/repo1 and repo2 (N packages), its root
# filesystem in $T/fs.img (e2fsck clean) and extracted by debugfs into
# $T/ex. rdump drops setuid/setgid/sticky bits, which rpm's database and
# pacman's mtree record: the extracted copy gets them back as debugfs
# reads them on the filesystem (check_special compares them with the
# source).
gen_image() {
	_n=$1
	shift
	rm -rf "$T/ex" "$T/img.raw" "$T/fs.img"
	"$GEN" --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
		--repo "file://$T/repo1" --repo "file://$T/repo2" --format raw \
		--tmpdir "$T" --json "$@" -o "$T/img.raw" >"$T/gen.json" 2>"$T/gen.err" ||
		{ cat "$T/gen.err"; fail "reforge-gen failed"; }
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["packages"]==int(sys.argv[2]), d' \
		"$T/gen.json" "$_n" || fail "unexpected --json output: $(cat "$T/gen.json")"
	ls "$T" | grep -q '^reforge-gen\.' && fail "the staging directory was left behind"
	part "$T/img.raw" "$T/fs.img"
	ext_sound "$T/fs.img" "the image"
	mkdir "$T/ex"
	debugfs -R "rdump / $T/ex" "$T/fs.img" >/dev/null 2>&1 || fail "debugfs rdump failed"
	for _p in $(python3 - "$T/src.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
N = '{urn:reforge:report:1}'
for f in ET.parse(sys.argv[1]).getroot().iter(N + 'file'):
    m = f.get('mode')
    if m and int(m, 8) & 0o7000 and f.get('type') == 'file' and f.get('path'):
        print(f.get('path'))
PY
	); do
		_m=$(debugfs -R "stat $_p" "$T/fs.img" 2>/dev/null |
			sed -n 's/.*Mode: *\([0-7]*\).*/\1/p')
		[ -n "$_m" ] || fail "$_p is not in the image"
		chmod "$_m" "$T/ex$_p" || fail "chmod $_p"
	done
}

# check_fidelity: $T/ex scanned again is the source scan (compare_reports,
# check_special), and what rdump cannot show, read on the filesystem.
check_fidelity() {
	"$SCAN" -q --root "$T/ex" --report "$T/gen.xml" >/dev/null 2>"$T/scan2.err" ||
		{ cat "$T/scan2.err"; fail "reforge-scan of the image failed"; }
	compare_reports "$T/src.xml" "$T/gen.xml" || fail "the image differs from the source"
	check_special "$T/src.xml" "$T/fs.img" || fail "special files or modes differ"
	debugfs -R "ea_get /opt/app/tool user.rf" "$T/fs.img" 2>/dev/null | grep -q hello ||
		fail "user.rf lost"
	[ "$(_ino /usr/share/alpha/data.txt)" = "$(_ino /usr/share/alpha/data-link.txt)" ] ||
		fail "package hardlink broken"
	[ "$(debugfs -R 'cat /usr/share/alpha/data-link.txt' "$T/fs.img" 2>/dev/null)" = "alpha data" ] ||
		fail "the hardlinked file lost its data"
	debugfs -R "stat /usr/share/alpha/gone.txt" "$T/fs.img" 2>&1 | grep -q 'File not found' ||
		fail "a file missing on the source is in the image"
}
_ino() { debugfs -R "stat $1" "$T/fs.img" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }

# gen_bad NAME REPO... : reforge-gen must fail and write no image; its
# messages in $T/NAME.err.
gen_bad() {
	_n=$1
	shift
	_r=""
	for _d; do _r="$_r --repo file://$_d"; done
	# shellcheck disable=SC2086
	"$GEN" -q --target none --report "$T/src.xml" --overlay "$T/overlay.tar" \
		$_r --format raw --tmpdir "$T" -o "$T/$_n.raw" 2>"$T/$_n.err" &&
		fail "$_n: reforge-gen accepted it"
	[ -e "$T/$_n.raw" ] && fail "$_n: an image was written"
	ls "$T" | grep -q '^reforge-gen\.' && fail "$_n: the staging directory was left behind"
	return 0
}

# server_gen ROOT REPO-ADD-ARGS...: the same root through reforge-server:
# a repository added with `reforge repo add src REPO-ADD-ARGS...` and
# refreshed, ROOT scanned to the server, `reforge generate --format raw
# --target none` run in its worker pool (the job links the repository's
# package files for reforge-gen), the image downloaded to $T/srv.raw and
# its filesystem extracted with debugfs into $T/srv-ex. The caller checks
# what it holds. Needs $T, $GEN, $SCAN, $top_builddir.
server_gen() {
	_root=$1
	shift
	_srv="$top_builddir/reforge-server"
	_d="$T/srvdata"
	[ -x "$_srv" ] || fail "no reforge-server in $top_builddir"
	"$_srv" --data "$_d" token create t >"$T/token" || fail "token create"
	"$_srv" --data "$_d" --listen 127.0.0.1:0 --port-file "$T/port" \
		--generator "$GEN" --workers 1 2>>"$T/server.log" &
	SPID=$!
	trap 'kill $SPID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
	wait_port "$T/port" "$T/server.log"
	_url="http://127.0.0.1:$(cat "$T/port")"
	_r="$top_builddir/reforge --server $_url --token-file $T/token"
	$_r repo add src "$@" >"$T/repo.log" 2>&1 &&
		$_r repo refresh src >>"$T/repo.log" 2>&1 ||
		fail "the server's repository: $(cat "$T/repo.log")"
	"$SCAN" -q -r "$_root" --server "$_url" --token-file "$T/token" \
		--name host >/dev/null 2>"$T/srvscan.err" ||
		fail "scan to the server: $(cat "$T/srvscan.err")"
	_json() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
	_s=$($_r --json scans | _json 'j["scans"][-1]["id"]')
	_j=$($_r --json generate "$_s" --format raw --target none | _json 'j["id"]')
	_i=0
	while :; do
		_st=$($_r --json image show "$_j" | _json 'j["state"]')
		[ "$_st" = done ] && break
		[ "$_st" = failed ] && fail "the server's job failed: $($_r image show "$_j")"
		_i=$((_i + 1))
		[ $_i -lt 600 ] || fail "the server's job is still $_st"
		sleep 0.1
	done
	$_r image show "$_j" >"$T/job.log"
	$_r image download "$_j" -o "$T/srv.raw" >/dev/null || fail "download"
	kill $SPID
	wait $SPID
	part "$T/srv.raw" "$T/srv-fs.img"
	mkdir "$T/srv-ex"
	debugfs -R "rdump / $T/srv-ex" "$T/srv-fs.img" >/dev/null 2>&1 ||
		fail "debugfs rdump of the server's image"
}

# cached_twice N HITS: gen_image and check_fidelity through a new payload
# cache, filled by the first run (HITS entries stored), read by the second
# (HITS hits, nothing stored).
cached_twice() {
	rm -rf "$T/cache"
	for _pass in fill read; do
		gen_image "$1" --cache "$T/cache"
		check_fidelity
		python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cache"]
n = int(sys.argv[3])
want = {"fill": (0, n, n), "read": (n, 0, 0)}[sys.argv[2]]
assert (c["hits"], c["misses"], c["stored"]) == want and c["damaged"] == 0, (c, want)' \
			"$T/gen.json" "$_pass" "$2" ||
			fail "payload cache, $_pass: $(cat "$T/gen.json")"
	done
}
