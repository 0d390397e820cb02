# tests of scanner/
