# tests of scanner/: the package model and dpkg backend (CUnit), the dpkg
# parsers' fuzz target replaying its corpus, and the system tests that run
# reforge-scan on roots built by dpkg itself.
check_PROGRAMS += tests/test_scanner tests/fuzz/fuzz_dpkg
tests_test_scanner_SOURCES = tests/test_scanner.c
tests_test_scanner_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/scanner
tests_test_scanner_CFLAGS = $(TEST_CUNIT_CFLAGS)
tests_test_scanner_LDADD = $(SCAN_LIBS) $(TEST_CUNIT_LIBS)

tests_fuzz_fuzz_dpkg_SOURCES = tests/fuzz/fuzz_dpkg.c tests/fuzz/driver.c
tests_fuzz_fuzz_dpkg_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/scanner \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/dpkg"'
tests_fuzz_fuzz_dpkg_LDADD = $(SCAN_LIBS)

TESTS += tests/test_scanner tests/fuzz/fuzz_dpkg \
	tests/system/scan-dpkg.sh \
	tests/system/scan-readonly.sh \
	tests/system/scan-changing.sh \
	tests/system/scan-fdlimit.sh
EXTRA_DIST += tests/system/scan-dpkg.sh tests/system/scan-readonly.sh \
	tests/system/scan-changing.sh tests/system/changing-shim.c \
	tests/system/scan-fdlimit.sh \
	tests/fuzz/corpus/dpkg

# MD5 in lockstep against OpenSSL's
check_PROGRAMS += tests/test_md5mb
tests_test_md5mb_SOURCES = tests/test_md5mb.c
tests_test_md5mb_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/scanner
tests_test_md5mb_CFLAGS = $(TEST_CUNIT_CFLAGS) $(LIBCRYPTO_CFLAGS)
tests_test_md5mb_LDADD = $(SCAN_LIBS) $(TEST_CUNIT_LIBS) $(LIBCRYPTO_LIBS)
TESTS += tests/test_md5mb
check_PROGRAMS += tests/test_sha256ni
tests_test_sha256ni_SOURCES = tests/test_sha256ni.c
tests_test_sha256ni_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/scanner
tests_test_sha256ni_CFLAGS = $(TEST_CUNIT_CFLAGS) $(LIBCRYPTO_CFLAGS)
tests_test_sha256ni_LDADD = $(SCAN_LIBS) $(TEST_CUNIT_LIBS) $(LIBCRYPTO_LIBS)
TESTS += tests/test_sha256ni
