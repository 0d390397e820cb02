# tests of formats/: rules are added with them.
