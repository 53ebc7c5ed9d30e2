package engine

// Version is the release of Telepathine this package belongs to. One
// version covers the whole project: the Go module's tag (v0.2.0), the C
// library's file name (libtelepathine.so.0.2.0, soname libtelepathine.so.0),
// the Python package and the npm package. The repository's VERSION file is
// the source the build reads; `make check-version` fails when any of them
// disagrees with it.
const Version = "0.2.0"
