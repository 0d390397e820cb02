# tests of the rpm and alpm package database backends
