# tests of server/: the store and the overlay's path rules (CUnit), the
# report parser's fuzz target replaying its corpus, and system tests that
# run reforge-server on loopback with the real scanner, client and curl.
check_PROGRAMS += tests/test_server tests/fuzz/fuzz_srv_report
tests_test_server_SOURCES = tests/test_server.c
tests_test_server_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_test_server_CFLAGS = $(TEST_CUNIT_CFLAGS) $(SQLITE3_CFLAGS)
tests_test_server_LDADD = $(SRV_LIBS) $(TEST_CUNIT_LIBS)

tests_fuzz_fuzz_srv_report_SOURCES = tests/fuzz/fuzz_srv_report.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_srv_report_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/srv_report"'
tests_fuzz_fuzz_srv_report_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS)
tests_fuzz_fuzz_srv_report_LDADD = $(SRV_LIBS)

TESTS += tests/test_server tests/fuzz/fuzz_srv_report \
	tests/system/server.sh tests/system/server-crash.sh
EXTRA_DIST += tests/system/server.sh tests/system/server-crash.sh \
	tests/fuzz/corpus/srv_report

# RELIABILITY 13: slow clients, per-address limit, deadline, minimum rate
TESTS += tests/system/server-limits.sh
EXTRA_DIST += tests/system/server-limits.sh tests/system/server-limits.py
# issue 6: repositories wired into the server and the client
TESTS += tests/system/server-repo.sh
EXTRA_DIST += tests/system/server-repo.sh
# issue 7: image jobs in the server (reforge generate, images, image ...)
TESTS += tests/system/server-gen.sh
EXTRA_DIST += tests/system/server-gen.sh

# RELIABILITY 9: the Nth write or rename of the server fails (EIO, ENOSPC)
TESTS += tests/system/server-faults.sh
EXTRA_DIST += tests/system/server-faults.sh tests/system/fault-shim.c

# RELIABILITY 10: the data directory's filesystem fills up (a tmpfs in a
# mount namespace of the test's own)
TESTS += tests/system/server-diskfull.sh
EXTRA_DIST += tests/system/server-diskfull.sh

# RELIABILITY 17: the overlay verifier on arbitrary tar bytes
check_PROGRAMS += tests/fuzz/fuzz_srv_overlay
tests_fuzz_fuzz_srv_overlay_SOURCES = tests/fuzz/fuzz_srv_overlay.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_srv_overlay_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/srv_overlay"'
tests_fuzz_fuzz_srv_overlay_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS)
tests_fuzz_fuzz_srv_overlay_LDADD = $(SRV_LIBS)
TESTS += tests/fuzz/fuzz_srv_overlay
EXTRA_DIST += tests/fuzz/corpus/srv_overlay

# The store's writers take turns in the process, never in SQLite's busy
# wait: concurrent ingests and token writes with a 1 ms busy timeout
check_PROGRAMS += tests/test_srv_writers
tests_test_srv_writers_SOURCES = tests/test_srv_writers.c
tests_test_srv_writers_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server
tests_test_srv_writers_CFLAGS = $(TEST_CUNIT_CFLAGS) $(SQLITE3_CFLAGS)
tests_test_srv_writers_LDADD = $(SRV_LIBS) $(TEST_CUNIT_LIBS)
TESTS += tests/test_srv_writers

# RELIABILITY 17: the HTTP handlers, through the real daemon on loopback
check_PROGRAMS += tests/fuzz/fuzz_http
tests_fuzz_fuzz_http_SOURCES = tests/fuzz/fuzz_http.c tests/fuzz/driver.c
tests_fuzz_fuzz_http_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/server \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/http"'
tests_fuzz_fuzz_http_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS)
tests_fuzz_fuzz_http_LDADD = $(SRV_LIBS)
TESTS += tests/fuzz/fuzz_http
EXTRA_DIST += tests/fuzz/corpus/http

# the minimum rate's grace period is a setting (--min-rate-grace)
TESTS += tests/system/server-grace.sh
EXTRA_DIST += tests/system/server-grace.sh

# the systemd unit made with the configured directories
TESTS += tests/system/server-unit.sh
EXTRA_DIST += tests/system/server-unit.sh
