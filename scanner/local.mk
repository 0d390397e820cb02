# scanner/: reforge-scan, the inventory of a source host.
