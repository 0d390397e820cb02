# Helper of gen-rpm.sh and gen-pacman.sh: sourced, not run.
#
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
	_i=0
	while [ ! -s "$T/port" ]; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || fail "the server did not start: $(cat "$T/server.log")"
		sleep 0.1
	done
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
	set -- $(gpt_part "$T/srv.raw" 1)
	[ -n "$2" ] || fail "no partition 1 in the server's image"
	dd if="$T/srv.raw" of="$T/srv-fs.img" bs=1M iflag=skip_bytes,count_bytes \
		skip="$1" count="$2" status=none || fail "dd"
	mkdir "$T/srv-ex"
	debugfs -R "rdump / $T/srv-ex" "$T/srv-fs.img" >/dev/null 2>&1 ||
		fail "debugfs rdump of the server's image"
}
