# tests of generator/: safe extraction against hostile archives, the tree
# built from a report and an overlay, and reforge-gen end to end.
check_PROGRAMS += tests/test_gen_extract
TESTS += tests/test_gen_extract
tests_test_gen_extract_SOURCES = tests/test_gen_extract.c
tests_test_gen_extract_CFLAGS = $(TEST_CUNIT_CFLAGS) $(LIBARCHIVE_CFLAGS)
tests_test_gen_extract_LDADD = $(RF_GEN_LIBS) $(TEST_CUNIT_LIBS)

TESTS += tests/system/gen-dpkg.sh
EXTRA_DIST += tests/system/gen-dpkg.sh tests/system/gen-lib.sh

check_PROGRAMS += tests/fuzz/fuzz_gen_report
TESTS += tests/fuzz/fuzz_gen_report
tests_fuzz_fuzz_gen_report_SOURCES = tests/fuzz/fuzz_gen_report.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_gen_report_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/gen_report"'
tests_fuzz_fuzz_gen_report_LDADD = $(RF_GEN_LIBS)
EXTRA_DIST += tests/fuzz/corpus/gen_report

# tuning for the target, proved by booting the images (boot.c, target*.c)
TESTS += tests/system/boot-kvm.sh
EXTRA_DIST += tests/system/boot-kvm.sh
check_PROGRAMS += tests/test_target
TESTS += tests/test_target
tests_test_target_SOURCES = tests/test_target.c
tests_test_target_CFLAGS = $(TEST_CUNIT_CFLAGS)
tests_test_target_LDADD = $(RF_GEN_LIBS) $(TEST_CUNIT_LIBS)

# rpm and pacman packages: fidelity on fixture roots, bad input
TESTS += tests/system/gen-rpm.sh
EXTRA_DIST += tests/system/gen-rpm.sh
TESTS += tests/system/gen-pacman.sh
EXTRA_DIST += tests/system/gen-pacman.sh tests/system/gen-pkg-lib.sh
check_PROGRAMS += tests/test_gen_pkg
TESTS += tests/test_gen_pkg
tests_test_gen_pkg_SOURCES = tests/test_gen_pkg.c
tests_test_gen_pkg_CFLAGS = $(TEST_CUNIT_CFLAGS) $(LIBARCHIVE_CFLAGS)
tests_test_gen_pkg_LDADD = $(RF_GEN_LIBS) $(TEST_CUNIT_LIBS)

# xfs and btrfs roots made with their own tools; parallel unpack order
TESTS += tests/system/gen-xfs.sh
EXTRA_DIST += tests/system/gen-xfs.sh
# the cloud targets: azure's initramfs read back, aws booted on NVMe from a
# source without a kernel (boot-lib.sh: the source both boot tests share)
TESTS += tests/system/boot-cloud.sh
EXTRA_DIST += tests/system/boot-cloud.sh tests/system/boot-lib.sh

check_PROGRAMS += tests/fuzz/fuzz_gen_repo
TESTS += tests/fuzz/fuzz_gen_repo
tests_fuzz_fuzz_gen_repo_SOURCES = tests/fuzz/fuzz_gen_repo.c \
	tests/fuzz/driver.c
tests_fuzz_fuzz_gen_repo_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/gen_repo"'
tests_fuzz_fuzz_gen_repo_LDADD = $(RF_GEN_LIBS)
EXTRA_DIST += tests/fuzz/corpus/gen_repo
check_PROGRAMS += tests/test_gen_unpack
TESTS += tests/test_gen_unpack
tests_test_gen_unpack_SOURCES = tests/test_gen_unpack.c
tests_test_gen_unpack_CFLAGS = $(TEST_CUNIT_CFLAGS)
tests_test_gen_unpack_LDADD = $(RF_GEN_LIBS) $(TEST_CUNIT_LIBS)
check_PROGRAMS += tests/test_gen_cache
TESTS += tests/test_gen_cache
tests_test_gen_cache_SOURCES = tests/test_gen_cache.c
tests_test_gen_cache_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/generator
tests_test_gen_cache_CFLAGS = $(TEST_CUNIT_CFLAGS) $(LIBARCHIVE_CFLAGS)
tests_test_gen_cache_LDADD = $(RF_GEN_LIBS) $(TEST_CUNIT_LIBS)

check_PROGRAMS += tests/test_gen_fsw
TESTS += tests/test_gen_fsw
tests_test_gen_fsw_SOURCES = tests/test_gen_fsw.c
tests_test_gen_fsw_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/generator
tests_test_gen_fsw_CFLAGS = $(TEST_CUNIT_CFLAGS) $(LIBARCHIVE_CFLAGS) $(EXT2FS_CFLAGS)
tests_test_gen_fsw_LDADD = $(RF_GEN_LIBS) $(TEST_CUNIT_LIBS)

check_PROGRAMS += tests/fuzz/fuzz_gen_fsw
TESTS += tests/fuzz/fuzz_gen_fsw
tests_fuzz_fuzz_gen_fsw_SOURCES = tests/fuzz/fuzz_gen_fsw.c tests/fuzz/driver.c
tests_fuzz_fuzz_gen_fsw_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(abs_top_srcdir)/tests/fuzz/corpus/gen_fsw"'
tests_fuzz_fuzz_gen_fsw_LDADD = $(RF_GEN_LIBS)
EXTRA_DIST += tests/fuzz/corpus/gen_fsw
