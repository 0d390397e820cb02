# server/: reforge-server (the service) and reforge (the client for people).
# Each piece keeps its rules in its own fragment.
include server/server.mk
include server/repo.mk
