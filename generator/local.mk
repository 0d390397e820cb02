# generator/: reforge-gen, which turns a stored scan (report + overlay) and
# package repositories into a disk image. libgen.a holds everything but
# main() so that the tests link the same code.
noinst_LIBRARIES += generator/libgen.a
generator_libgen_a_SOURCES = \
	generator/extract.c generator/extract.h
generator_libgen_a_CFLAGS = $(AM_CFLAGS) $(LIBARCHIVE_CFLAGS) \
	$(LIBXML2_CFLAGS) $(LIBCRYPTO_CFLAGS)
RF_GEN_LIBS = generator/libgen.a $(RF_FMT_LIBS) $(LIBARCHIVE_LIBS) \
	$(LIBXML2_LIBS) $(LIBCRYPTO_LIBS)
