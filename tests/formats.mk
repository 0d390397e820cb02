# tests of formats/: unit tests against our readers and qemu-img, the
# reforge-img system test, and fuzz targets for each reader's parsing.
check_PROGRAMS += tests/test_formats tests/fuzz/fuzz_img_qcow2 \
	tests/fuzz/fuzz_img_vmdk
TESTS += tests/test_formats tests/fuzz/fuzz_img_qcow2 \
	tests/fuzz/fuzz_img_vmdk tests/system/formats.sh
tests_test_formats_SOURCES = tests/test_formats.c
tests_test_formats_CFLAGS = $(TEST_CUNIT_CFLAGS)
tests_test_formats_LDADD = $(RF_FMT_LIBS) $(TEST_CUNIT_LIBS)

tests_fuzz_fuzz_img_qcow2_SOURCES = tests/fuzz/fuzz_img_qcow2.c \
	tests/fuzz/fuzz_img_common.c tests/fuzz/driver.c
tests_fuzz_fuzz_img_qcow2_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/img_qcow2"'
tests_fuzz_fuzz_img_qcow2_LDADD = $(RF_FMT_LIBS)

tests_fuzz_fuzz_img_vmdk_SOURCES = tests/fuzz/fuzz_img_vmdk.c \
	tests/fuzz/fuzz_img_common.c tests/fuzz/driver.c
tests_fuzz_fuzz_img_vmdk_CPPFLAGS = $(AM_CPPFLAGS) \
	-DFUZZ_CORPUS='"$(srcdir)/tests/fuzz/corpus/img_vmdk"'
tests_fuzz_fuzz_img_vmdk_LDADD = $(RF_FMT_LIBS)

EXTRA_DIST += tests/system/formats.sh tests/fuzz/corpus/img_qcow2 \
	tests/fuzz/corpus/img_vmdk
