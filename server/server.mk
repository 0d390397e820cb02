# reforge-server, its store and protocol, and the reforge client.
