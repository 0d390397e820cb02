# tests of server/: rules are added with them.
