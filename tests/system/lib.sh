# Shared helpers of the system tests: sourced, not run.
# Every test gets $top_builddir and $top_srcdir from make check; when run by
# hand, they default to the current directory and this file's tree.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
export LC_ALL=C

SCAN="$top_builddir/reforge-scan"
RNG="${REFORGE_TEST_RNG:-$top_srcdir/lib/report.rng}"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
	done
}

# A scratch directory removed when the test ends.
scratch() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/reforge-test.XXXXXX")
	trap 'rm -rf "$T"' EXIT
}

# wait_port FILE LOG: wait (10 s at most) for a server started with
# --port-file FILE to write its port; fail with the end of LOG if it does not.
wait_port() {
	_wait_n=0
	while [ ! -s "$1" ]; do
		_wait_n=$((_wait_n + 1))
		[ $_wait_n -lt 200 ] || fail "the server did not start: $(tail -5 "$2")"
		sleep 0.05
	done
}

# start_server NAME OPTION...: reforge-server on $D (SRV, D, T set by the
# test) on a free loopback port, in the background: its pid in PID_NAME,
# its port in $T/port.NAME, its log in $T/server.NAME.log.
start_server() {
	_n=$1
	shift
	"$SRV" --data "$D" --listen 127.0.0.1:0 --port-file "$T/port.$_n" \
		"$@" 2>"$T/server.$_n.log" &
	eval "PID_$_n=$!"
	wait_port "$T/port.$_n" "$T/server.$_n.log"
}

# make_deb DIR NAME VERSION [CONFFILE...]: build DIR/NAME.deb from the
# tree in DIR/NAME (already filled), with md5sums as dh_md5sums writes them
# (conffiles left out).
make_deb() {
	_dir=$1 _name=$2 _ver=$3
	shift 3
	_tree="$_dir/$_name"
	mkdir -p "$_tree/DEBIAN"
	cat >"$_tree/DEBIAN/control" <<CTRL
Package: $_name
Version: $_ver
Architecture: all
Maintainer: reforge tests <tests@reforge.invalid>
Description: reforge test package $_name
CTRL
	: >"$_tree/DEBIAN/conffiles"
	for _c in "$@"; do
		echo "$_c" >>"$_tree/DEBIAN/conffiles"
	done
	[ -s "$_tree/DEBIAN/conffiles" ] || rm -f "$_tree/DEBIAN/conffiles"
	(
		cd "$_tree" &&
			find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' |
			while IFS= read -r _f; do
				grep -qxF "/$_f" DEBIAN/conffiles 2>/dev/null && continue
				md5sum "$_f"
			done >DEBIAN/md5sums
	)
	dpkg-deb --root-owner-group -Zgzip -b "$_tree" "$_dir/$_name.deb" >/dev/null ||
		fail "dpkg-deb could not build $_name"
}

# new_dpkg_root DIR: an empty root with a dpkg database.
new_dpkg_root() {
	mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates"
	: >"$1/var/lib/dpkg/status"
	: >"$1/var/lib/dpkg/available"
}

# validate REPORT: the report must follow the schema.
validate() {
	xmllint --noout --relaxng "$RNG" "$1" 2>"$T/xmllint.err" || {
		head -20 "$T/xmllint.err" >&2
		fail "$1 does not validate against report.rng"
	}
}
