# tests of the rpm and alpm package database backends: fixture roots made
# with rpmbuild/rpm and bsdtar/pacman, read back through the backends; the
# system tests compare reforge-scan --changes with rpm -Va and pacman -Qkk.
PKGDB_TEST_CFLAGS = $(TEST_CUNIT_CFLAGS) -I$(top_srcdir)/scanner \
	$(LIBRPM_CFLAGS) $(LIBALPM_CFLAGS) $(LIBARCHIVE_CFLAGS) $(SQLITE3_CFLAGS)
PKGDB_TEST_LIBS = $(SCAN_LIBS) $(SQLITE3_LIBS) $(TEST_CUNIT_LIBS)

check_PROGRAMS += tests/test_pkgdb_rpm
TESTS += tests/test_pkgdb_rpm
tests_test_pkgdb_rpm_SOURCES = tests/test_pkgdb_rpm.c \
	tests/pkgdb_testutil.c tests/pkgdb_testutil.h
tests_test_pkgdb_rpm_CFLAGS = $(PKGDB_TEST_CFLAGS)
tests_test_pkgdb_rpm_LDADD = $(PKGDB_TEST_LIBS)

check_PROGRAMS += tests/test_pkgdb_alpm
TESTS += tests/test_pkgdb_alpm
tests_test_pkgdb_alpm_SOURCES = tests/test_pkgdb_alpm.c \
	tests/pkgdb_testutil.c tests/pkgdb_testutil.h
tests_test_pkgdb_alpm_CPPFLAGS = $(AM_CPPFLAGS) \
	-DPKGDB_MKPACMAN='"$(abs_top_srcdir)/tests/pkgdb-mkpacman.sh"'
tests_test_pkgdb_alpm_CFLAGS = $(PKGDB_TEST_CFLAGS)
tests_test_pkgdb_alpm_LDADD = $(PKGDB_TEST_LIBS)
EXTRA_DIST += tests/pkgdb-mkpacman.sh

# verdicts against rpm -Va and pacman -Qkk on the same roots
TESTS += tests/system/scan-rpm.sh tests/system/scan-pacman.sh
EXTRA_DIST += tests/system/scan-rpm.sh tests/system/scan-pacman.sh

# fuzz targets of the pacman backend's parsing: make check replays the
# committed corpus (seeds and any crash cases found since)
check_PROGRAMS += tests/fuzz/fuzz_alpm_mtree tests/fuzz/fuzz_alpm_db
TESTS += tests/fuzz/fuzz_alpm_mtree tests/fuzz/fuzz_alpm_db
tests_fuzz_fuzz_alpm_mtree_SOURCES = tests/fuzz/fuzz_alpm_mtree.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_alpm_mtree_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/alpm_mtree"'
tests_fuzz_fuzz_alpm_mtree_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/scanner \
	$(LIBALPM_CFLAGS)
tests_fuzz_fuzz_alpm_mtree_LDADD = $(SCAN_LIBS)
tests_fuzz_fuzz_alpm_db_SOURCES = tests/fuzz/fuzz_alpm_db.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_alpm_db_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/alpm_db"'
tests_fuzz_fuzz_alpm_db_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/scanner
tests_fuzz_fuzz_alpm_db_LDADD = $(SCAN_LIBS)
EXTRA_DIST += tests/fuzz/corpus/alpm_mtree tests/fuzz/corpus/alpm_db
