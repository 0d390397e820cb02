# scanner/: reforge-scan, the inventory of a source host.

# The system inventory (identity, storage, network, accounts, services).
include scanner/sysinfo.mk

# Package databases, the package set and the walk: a library so that the
# tests link the same code as the program.
noinst_LIBRARIES += scanner/libscan.a
scanner_libscan_a_SOURCES = \
	scanner/pkgdb.c scanner/pkgdb.h \
	scanner/pkgset.c \
	scanner/pkgdb_dpkg.c \
	scanner/pkgdb_rpm.c \
	scanner/pkgdb_alpm.c \
	scanner/scan.h \
	scanner/scanreport.c scanner/scanreport.h \
	scanner/walk.c
scanner_libscan_a_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS) $(LIBRPM_CFLAGS) \
	$(LIBALPM_CFLAGS) $(LIBARCHIVE_CFLAGS) $(LIBCRYPTO_CFLAGS)
SCAN_LIBS = scanner/libscan.a scanner/libscansys.a $(RF_COMMON_LIBS) \
	$(LIBXML2_LIBS) $(LIBRPM_LIBS) $(LIBALPM_LIBS) $(LIBARCHIVE_LIBS) \
	$(YAML_LIBS) $(LIBCRYPTO_LIBS)

sbin_PROGRAMS += reforge-scan
reforge_scan_SOURCES = scanner/main.c
reforge_scan_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS) $(JANSSON_CFLAGS)
reforge_scan_LDADD = $(SCAN_LIBS) $(JANSSON_LIBS)

# What the rpm and alpm backends share: scratch copies of database files.
scanner_libscan_a_SOURCES += scanner/pkgdb_backend.c scanner/pkgdb_backend.h \
	scanner/pkgdb_alpm.h
# the rpm backend reads dnf's history (SQLite) for package origins
scanner_libscan_a_CFLAGS += $(SQLITE3_CFLAGS)
SCAN_LIBS += $(SQLITE3_LIBS)

# Sending a scan to reforge-server and writing overlays (server/server.mk
# owns the protocol; these are the scanner's side of it).
scanner_libscan_a_SOURCES += scanner/overlay.c scanner/overlay.h \
	scanner/upload.c scanner/upload.h
scanner_libscan_a_CFLAGS += $(LIBCURL_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBZSTD_CFLAGS)
SCAN_LIBS += $(LIBCURL_LIBS) $(JANSSON_LIBS) $(LIBZSTD_LIBS)

# MD5 of sixteen package files at once (AVX-512, with a scalar fallback)
scanner_libscan_a_SOURCES += scanner/md5mb.c scanner/md5mb.h
scanner_libscan_a_SOURCES += scanner/sha256ni.c scanner/sha256ni.h
