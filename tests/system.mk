# tests of the system inventory
