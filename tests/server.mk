# tests of server/: the store and the overlay's path rules (CUnit), the
# report parser's fuzz target replaying its corpus, and system tests that
# run reforge-server on loopback with the real scanner, client and curl.
TESTS += tests/system/server.sh tests/system/server-crash.sh
EXTRA_DIST += tests/system/server.sh tests/system/server-crash.sh
