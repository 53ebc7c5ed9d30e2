// Package abicheck holds the tests that keep the C library and its
// hand-written header cgo/telepathine.h in step: the exported tp_ symbols
// are exactly the declared ones, the header's constants are the bridge's,
// and the header compiles alone as C11 and C++.
package abicheck
