# reforge-server, its store and protocol, and the reforge client.

# The store, report ingest, overlay verification and the HTTP layer: a
# library so that the tests link the same code as the program.
noinst_LIBRARIES += server/libsrv.a
server_libsrv_a_SOURCES = \
	server/srv.h \
	server/srv_store.c \
	server/srv_db.c \
	server/srv_report.c \
	server/srv_overlay.c \
	server/srv_query.c \
	server/srv_http.c server/srv_http.h \
	server/srv_job.c server/srv_job.h
server_libsrv_a_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS) $(LIBXML2_CFLAGS) \
	$(LIBARCHIVE_CFLAGS) $(LIBMICROHTTPD_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBZSTD_CFLAGS) $(ZLIB_CFLAGS) $(LIBCRYPTO_CFLAGS)
SRV_LIBS = server/libsrv.a $(RF_COMMON_LIBS) $(SQLITE3_LIBS) \
	$(LIBXML2_LIBS) $(LIBARCHIVE_LIBS) $(LIBMICROHTTPD_LIBS) \
	$(JANSSON_LIBS) $(LIBZSTD_LIBS) $(ZLIB_LIBS) $(LIBCRYPTO_LIBS)

sbin_PROGRAMS += reforge-server
reforge_server_SOURCES = server/srv_main.c
reforge_server_CFLAGS = $(server_libsrv_a_CFLAGS)
reforge_server_LDADD = $(SRV_LIBS)

bin_PROGRAMS += reforge
reforge_SOURCES = server/client.c
reforge_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS) $(JANSSON_CFLAGS)
reforge_LDADD = $(RF_COMMON_LIBS) $(LIBCURL_LIBS) $(JANSSON_LIBS)

# The service: a systemd unit and an example settings file.
# The unit names the programs where this build installs them: made by
# make from its .in with the configured directories (not by configure, so
# that they are fully expanded: ${exec_prefix} means nothing to systemd).
systemdunitdir = $(prefix)/lib/systemd/system
nodist_systemdunit_DATA = server/reforge-server.service
EXTRA_DIST += server/reforge-server.service.in
CLEANFILES += server/reforge-server.service
server/reforge-server.service: server/reforge-server.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) server && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(srcdir)/server/reforge-server.service.in >$@.tmp && \
	mv $@.tmp $@
reforgeconfdir = $(sysconfdir)/reforge
dist_reforgeconf_DATA = server/server.conf
# ingest reconciles a scan's packages with the repositories (server/repo.h)
SRV_LIBS += $(SRV_REPO_LIBS)
