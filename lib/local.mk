# lib/: what two or more parts share.
noinst_LIBRARIES += lib/librfcommon.a
lib_librfcommon_a_SOURCES = \
	lib/buf.c lib/buf.h \
	lib/digest.c lib/digest.h \
	lib/error.c lib/error.h \
	lib/escape.c lib/escape.h \
	lib/progress.c lib/progress.h \
	lib/rootfs.c lib/rootfs.h \
	lib/acl.c lib/acl.h \
	lib/atomic.c lib/atomic.h \
	lib/report.c lib/report.h
lib_librfcommon_a_CFLAGS = $(AM_CFLAGS) $(LIBCRYPTO_CFLAGS) $(LIBXML2_CFLAGS)
RF_COMMON_LIBS = lib/librfcommon.a $(LIBCRYPTO_LIBS) $(LIBXML2_LIBS)

# The report's schema: installed so that the server and users can validate.
dist_pkgdata_DATA += lib/report.rng lib/report-system.rng
