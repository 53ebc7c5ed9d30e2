#!/usr/bin/env bash
# Copies the Go sources that `go build -buildmode=c-shared ./cgo` needs
# (go.mod, go.sum and the non-test files of every package of this module
# that ./cgo imports, as go list reports them) into DEST, so that the sdist
# and the npm package can build the library without the repository.
# Usage: gosrc.sh GO DEST (from the repository root).
set -euo pipefail
go=$1 dest=$2
root=$(pwd)
rm -rf "$dest"
mkdir -p "$dest"
cp go.mod go.sum "$dest/"
"$go" list -deps -f '{{if and .Module (eq .Module.Path "github.com/telepathine/telepathine")}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .CgoFiles}}{{$d}}/{{.}}
{{end}}{{range .CFiles}}{{$d}}/{{.}}
{{end}}{{range .HFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}' ./cgo | sort -u | while read -r f; do
  [ -n "$f" ] || continue
  rel=${f#"$root"/}
  mkdir -p "$dest/$(dirname "$rel")"
  cp "$f" "$dest/$rel"
done
