# tests of the repositories (server/repo*): CUnit units, system tests over
# real repositories made at test time, and fuzz targets of the parsers.
check_PROGRAMS += tests/test_repo
TESTS += tests/test_repo
tests_test_repo_SOURCES = tests/test_repo.c
tests_test_repo_CFLAGS = $(TEST_CUNIT_CFLAGS) $(SQLITE3_CFLAGS)
tests_test_repo_LDADD = $(SRV_REPO_LIBS) $(TEST_CUNIT_LIBS)

TESTS += tests/system/repo-deb.sh tests/system/repo-rpm.sh \
	tests/system/repo-pacman.sh tests/system/repo-http.sh
EXTRA_DIST += tests/system/repo-deb.sh tests/system/repo-rpm.sh \
	tests/system/repo-pacman.sh tests/system/repo-http.sh \
	tests/system/repo-fixtures.sh bench/repo-index.sh

check_PROGRAMS += tests/fuzz/fuzz_repo_meta tests/fuzz/fuzz_repo_sources
TESTS += tests/fuzz/fuzz_repo_meta tests/fuzz/fuzz_repo_sources
tests_fuzz_fuzz_repo_meta_SOURCES = tests/fuzz/fuzz_repo_meta.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_repo_meta_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/repo_meta"'
tests_fuzz_fuzz_repo_meta_LDADD = $(SRV_REPO_LIBS)
tests_fuzz_fuzz_repo_sources_SOURCES = tests/fuzz/fuzz_repo_sources.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_repo_sources_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/repo_sources"'
tests_fuzz_fuzz_repo_sources_LDADD = $(SRV_REPO_LIBS)
EXTRA_DIST += tests/fuzz/corpus/repo_meta tests/fuzz/corpus/repo_sources
