# tests of the system inventory (scanner/system.h): fixture roots checked
# through the XML they produce, and a fuzz target for its parsers.
check_PROGRAMS += tests/test_system tests/fuzz/fuzz_sysconf
TESTS += tests/test_system tests/fuzz/fuzz_sysconf
tests_test_system_SOURCES = tests/test_system.c
tests_test_system_CPPFLAGS = $(AM_CPPFLAGS) \
	-DRF_SYSTEM_RNG='"$(abs_top_srcdir)/lib/report-system.rng"'
tests_test_system_CFLAGS = $(TEST_CUNIT_CFLAGS) $(LIBXML2_CFLAGS)
tests_test_system_LDADD = $(SCAN_SYS_LIBS) $(TEST_CUNIT_LIBS)

tests_fuzz_fuzz_sysconf_SOURCES = tests/fuzz/fuzz_sysconf.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_sysconf_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/sysconf"' \
	-DRF_SYSTEM_RNG='"$(abs_top_srcdir)/lib/report-system.rng"'
tests_fuzz_fuzz_sysconf_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS)
tests_fuzz_fuzz_sysconf_LDADD = $(SCAN_SYS_LIBS)
EXTRA_DIST += tests/fuzz/corpus/sysconf
