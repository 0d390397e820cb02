#!/bin/sh
# The systemd unit names reforge-server where this build installs it: a
# tree configured with another prefix (and one with its own --sbindir and
# --bindir) installs a unit whose ExecStart and PATH are those directories,
# with no @placeholder@ left.
. "$(dirname "$0")/lib.sh"
need make sed
scratch

unit() { # DESTDIR-relative unit path after configure ARGS... and install
	_b="$T/build.$1"
	shift
	mkdir -p "$_b"
	(cd "$_b" && "$top_srcdir/configure" -q "$@" >"$_b/configure.log" 2>&1) ||
		fail "configure $*: $(tail -5 "$_b/configure.log")"
	make -s -C "$_b" install-nodist_systemdunitDATA DESTDIR="$T/dest" \
		>"$_b/make.log" 2>&1 || fail "install of the unit: $(cat "$_b/make.log")"
}

unit a --prefix=/opt/rf
U="$T/dest/opt/rf/lib/systemd/system/reforge-server.service"
[ -f "$U" ] || fail "no unit installed under the prefix"
grep -qx 'ExecStart=/opt/rf/sbin/reforge-server' "$U" ||
	fail "ExecStart: $(grep ExecStart "$U")"
grep -q '^Environment=PATH=/opt/rf/bin:' "$U" || fail "PATH: $(grep PATH "$U")"
grep -q '/opt/rf/etc/reforge/server.conf' "$U" || fail "the settings file's place"
grep -q '@' "$U" && fail "a placeholder is left: $(grep '@' "$U")"

unit b --prefix=/usr --sbindir=/usr/lib/reforge/sbin --bindir=/usr/lib/reforge/bin
U="$T/dest/usr/lib/systemd/system/reforge-server.service"
grep -qx 'ExecStart=/usr/lib/reforge/sbin/reforge-server' "$U" ||
	fail "ExecStart with --sbindir: $(grep ExecStart "$U")"
grep -q '^Environment=PATH=/usr/lib/reforge/bin:' "$U" ||
	fail "PATH with --bindir: $(grep PATH "$U")"
if command -v systemd-analyze >/dev/null 2>&1; then
	# the unit's syntax; the program it names is not installed here
	systemd-analyze verify "$U" 2>&1 | grep -v 'reforge-server\|Command' |
		grep -i 'unknown\|invalid\|bad' && fail "systemd-analyze verify"
fi
echo "server-unit: all checks passed"
