# Repositories: kinds (deb, rpm-md, pacman), index, fetch cache.
# A library the server links, and reforge-repo-tool, which drives it on its
# own database for the tests and the benchmark (bench/repo-index.sh).
noinst_LIBRARIES += server/librepo.a
server_librepo_a_SOURCES = \
	server/repo.c server/repo.h server/repo_private.h \
	server/repo_util.c \
	server/repo_deb.c \
	server/repo_rpmmd.c \
	server/repo_pacman.c \
	server/repo_sources.c
server_librepo_a_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS) $(LIBCURL_CFLAGS) \
	$(LIBXML2_CFLAGS) $(LIBARCHIVE_CFLAGS) $(LIBCRYPTO_CFLAGS)
# What a program linking server/librepo.a adds to its LDADD.
SRV_REPO_LIBS = server/librepo.a $(RF_COMMON_LIBS) $(SQLITE3_LIBS) \
	$(LIBCURL_LIBS) $(LIBXML2_LIBS) $(LIBARCHIVE_LIBS) $(LIBCRYPTO_LIBS)

check_PROGRAMS += server/reforge-repo-tool
server_reforge_repo_tool_SOURCES = server/repo_tool.c
server_reforge_repo_tool_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS) \
	$(JANSSON_CFLAGS)
server_reforge_repo_tool_LDADD = $(SRV_REPO_LIBS) $(JANSSON_LIBS)
