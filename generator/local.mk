# generator/: reforge-gen, which turns a stored scan (report + overlay) and
# package repositories into a disk image. libgen.a holds everything but
# main() so that the tests link the same code.
noinst_LIBRARIES += generator/libgen.a
generator_libgen_a_SOURCES = \
	generator/extract.c generator/extract.h generator/gen.h \
	generator/fsw.c generator/fsw.h \
	generator/report.c generator/repo.c generator/tree.c
generator_libgen_a_CFLAGS = $(AM_CFLAGS) $(LIBARCHIVE_CFLAGS) $(ZLIB_CFLAGS) $(EXT2FS_CFLAGS) \
	$(LIBXML2_CFLAGS) $(LIBCRYPTO_CFLAGS)
RF_GEN_LIBS = generator/libgen.a $(RF_FMT_LIBS) $(LIBARCHIVE_LIBS) $(ZLIB_LIBS) $(EXT2FS_LIBS) \
	$(LIBXML2_LIBS) $(LIBCRYPTO_LIBS)
# kinds of package: one table each, registry in repo.c
generator_libgen_a_SOURCES += generator/pkg_kind.h generator/pkg_deb.c \
	generator/pkg_rpm.c generator/pkg_pacman.c
generator_libgen_a_CFLAGS += $(LIBRPM_CFLAGS)
RF_GEN_LIBS += $(LIBRPM_LIBS)
generator_libgen_a_SOURCES += generator/disk.c generator/disk.h
generator_libgen_a_SOURCES += generator/target.c generator/target.h \
	generator/target-kvm.c generator/target-vmware.c \
	generator/target-openstack.c generator/target-aws.c \
	generator/target-azure.c generator/boot.c generator/boot.h

bin_PROGRAMS += generator/reforge-gen
generator_reforge_gen_SOURCES = generator/main.c
generator_reforge_gen_LDADD = $(RF_GEN_LIBS) $(ZLIB_LIBS)

EXTRA_DIST += generator/partition.txt generator/README bench/gen-vs-mke2fs.sh \
	bench/boot-times.sh
generator_libgen_a_SOURCES += generator/unpack.c generator/unpack.h
generator_libgen_a_SOURCES += generator/cache.c generator/cache.h
generator_libgen_a_CFLAGS += $(LIBZSTD_CFLAGS)
RF_GEN_LIBS += $(LIBZSTD_LIBS)
