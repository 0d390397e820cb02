# The system inventory of reforge-scan: the <system>, <storage>, <network>,
# <accounts> and <services> sections of the report, and the root's
# id-to-name table. Included from scanner/local.mk; links with
# $(RF_COMMON_LIBS) $(LIBXML2_LIBS) $(YAML_LIBS).
noinst_LIBRARIES += scanner/libscansys.a
scanner_libscansys_a_SOURCES = \
	scanner/system.h \
	scanner/sys_internal.h scanner/sys_network.h \
	scanner/system.c \
	scanner/storage.c \
	scanner/network.c scanner/sys_netini.c scanner/sys_netplan.c \
	scanner/accounts.c \
	scanner/services.c \
	scanner/sys_util.c
scanner_libscansys_a_CFLAGS = $(AM_CFLAGS) $(LIBXML2_CFLAGS) $(YAML_CFLAGS)
SCAN_SYS_LIBS = scanner/libscansys.a $(RF_COMMON_LIBS) $(LIBXML2_LIBS) \
	$(YAML_LIBS)
# <repositories>: the host's own repository configuration files
scanner_libscansys_a_SOURCES += scanner/sys_repos.c
