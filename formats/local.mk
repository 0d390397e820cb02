# formats/: disk-image writers and readers (libfmt.a) and reforge-img.
noinst_LIBRARIES += formats/libfmt.a
formats_libfmt_a_SOURCES = \
	formats/image.c formats/image.h formats/private.h \
	formats/pool.c \
	formats/raw.c \
	formats/qcow2.c \
	formats/vmdk.c \
	formats/ova.c
formats_libfmt_a_CFLAGS = $(AM_CFLAGS) $(ZLIB_CFLAGS) $(LIBDEFLATE_CFLAGS) \
	$(LIBZSTD_CFLAGS) $(LIBARCHIVE_CFLAGS) $(LIBXML2_CFLAGS) \
	$(LIBCRYPTO_CFLAGS)
# What a program linking libfmt.a needs after it.
RF_FMT_LIBS = formats/libfmt.a $(RF_COMMON_LIBS) $(ZLIB_LIBS) \
	$(LIBDEFLATE_LIBS) $(LIBZSTD_LIBS) $(LIBARCHIVE_LIBS) $(LIBXML2_LIBS) -lm

bin_PROGRAMS += formats/reforge-img
formats_reforge_img_SOURCES = formats/reforge-img.c
formats_reforge_img_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
formats_reforge_img_LDADD = $(RF_FMT_LIBS) $(JANSSON_LIBS)

EXTRA_DIST += formats/qcow2.txt formats/vmdk.txt formats/ova.txt \
	bench/img-convert.sh bench/img-gen.py
