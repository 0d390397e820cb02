check_PROGRAMS += tests/test_lib
TESTS += tests/test_lib
tests_test_lib_SOURCES = tests/test_lib.c
tests_test_lib_CFLAGS = $(TEST_CUNIT_CFLAGS)
tests_test_lib_LDADD = $(RF_COMMON_LIBS) $(TEST_CUNIT_LIBS)
