# tests/: CUnit unit tests (one program per module) and system tests that
# drive the real binaries. Each part keeps its tests' rules in its own
# fragment.
TEST_CUNIT_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS)
TEST_CUNIT_LIBS = $(CUNIT_LIBS)
EXTRA_DIST += tests/cunit_main.h tests/system/lib.sh

include tests/lib.mk
include tests/scanner.mk
include tests/pkgdb.mk
include tests/system.mk
include tests/formats.mk
include tests/server.mk
include tests/repo.mk
include tests/generator.mk
