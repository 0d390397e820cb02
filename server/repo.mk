# Repositories: kinds (deb, rpm-md, pacman), index, fetch cache.
