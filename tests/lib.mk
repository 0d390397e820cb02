check_PROGRAMS += tests/test_lib
TESTS += tests/test_lib
tests_test_lib_SOURCES = tests/test_lib.c
tests_test_lib_CFLAGS = $(TEST_CUNIT_CFLAGS)
tests_test_lib_LDADD = $(RF_COMMON_LIBS) $(TEST_CUNIT_LIBS)

# the ACL xattr decoder reads what the scanned filesystem holds
check_PROGRAMS += tests/fuzz/fuzz_acl
TESTS += tests/fuzz/fuzz_acl
tests_fuzz_fuzz_acl_SOURCES = tests/fuzz/fuzz_acl.c tests/fuzz/driver.c
tests_fuzz_fuzz_acl_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/acl"'
tests_fuzz_fuzz_acl_LDADD = $(RF_COMMON_LIBS)
EXTRA_DIST += tests/fuzz/corpus/acl
