# tests of the repositories
