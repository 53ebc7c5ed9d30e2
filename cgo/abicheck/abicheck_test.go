package abicheck

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/telepathine/telepathine/cgo/bridge"
	"github.com/telepathine/telepathine/engine"
)

const header = "../telepathine.h"

var (
	comments  = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
	functions = regexp.MustCompile(`\b(tp_[a-z0-9_]+)\s*\(`)
	defines   = regexp.MustCompile(`(?m)^#define\s+(TP_[A-Z0-9_]+)\s+\(?(-?\d+)u?\)?\s*$`)
)

func readHeader(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(header)
	require.NoError(t, err)
	return comments.ReplaceAllString(string(b), " ")
}

// declared returns the tp_ functions the header declares.
func declared(t *testing.T) []string {
	var out []string
	for _, m := range functions.FindAllStringSubmatch(readHeader(t), -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// library returns the path of libtelepathine.so: $TP_LIB (make passes the
// one it built; a relative path is taken from the repository's root), else
// a fresh build into a temporary directory.
func library(t *testing.T) string {
	if p := os.Getenv("TP_LIB"); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join("..", "..", p) // relative to the repository
		}
		return p
	}
	out := filepath.Join(t.TempDir(), "libtelepathine.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "github.com/telepathine/telepathine/cgo")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// exported returns the tp_ functions the library defines in its dynamic
// symbol table.
func exported(t *testing.T, lib string) []string {
	f, err := elf.Open(lib)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	var out []string
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "tp_") && s.Section != elf.SHN_UNDEF &&
			elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out
}

func TestExportedSymbolsMatchTheHeader(t *testing.T) {
	want := declared(t)
	require.Greater(t, len(want), 20, "the header parser found too few functions: %v", want)
	got := exported(t, library(t))
	missing, extra := diff(want, got), diff(got, want)
	assert.Empty(t, missing, "declared in telepathine.h but not exported")
	assert.Empty(t, extra, "exported but not declared in telepathine.h")
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestHeaderConstantsMatchTheBridge(t *testing.T) {
	macros := map[string]int{}
	for _, m := range defines.FindAllStringSubmatch(readHeader(t), -1) {
		v, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		macros[m[1]] = v
	}
	assert.Equal(t, bridge.ABIMajor, macros["TP_ABI_VERSION_MAJOR"])
	assert.Equal(t, bridge.ABIMinor, macros["TP_ABI_VERSION_MINOR"])
	statuses := 0
	for name, v := range macros {
		if name == "TP_OK" || strings.HasPrefix(name, "TP_ERR_") || name == "TP_NOT_FOUND" || name == "TP_TIMEOUT" {
			statuses++
			assert.Equal(t, name, bridge.Code(v).String(), "status %s = %d", name, v)
		}
	}
	assert.Equal(t, len(bridge.Codes()), statuses, "every status code is in the header")
	assert.Equal(t, int(engine.Raw), macros["TP_ENCODING_RAW"])
	assert.Equal(t, int(engine.Text), macros["TP_ENCODING_TEXT"])
	assert.Equal(t, int(engine.JSON), macros["TP_ENCODING_JSON"])
	assert.Equal(t, int(bridge.SayBuffered), macros["TP_SAY_BUFFERED"])
	// The flat batch (1.2): its sizes, flag and event kinds.
	assert.Equal(t, bridge.FlatHeaderSize, macros["TP_FLAT_HEADER_SIZE"])
	assert.Equal(t, bridge.FlatValueString, macros["TP_FLAT_VALUE_STRING"])
	kinds := map[string]engine.Kind{
		"START": engine.KindStart, "STOP": engine.KindStop, "SET": engine.KindSet,
		"DELETE": engine.KindDelete, "EXPIRED": engine.KindExpired, "SAY": engine.KindSay,
		"ASK": engine.KindAsk, "PEER_NEW": engine.KindPeerNew, "PEER_ALIVE": engine.KindPeerStart,
		"PEER_DEAD": engine.KindPeerStop,
	}
	for name, k := range kinds {
		assert.Equal(t, int(k), macros["TP_EVENT_"+name], "TP_EVENT_%s", name)
	}
	assert.Len(t, kinds, len(bridge.EventKinds()), "every kind the bridge writes has its TP_EVENT_ macro")
}

// The header stands alone: a C11 or C++ file that includes only it
// compiles without a warning.
func TestHeaderCompilesAlone(t *testing.T) {
	for _, c := range [][]string{
		{"gcc", "-std=c11", "-x", "c"},
		{"g++", "-std=c++17", "-x", "c++"},
	} {
		if _, err := exec.LookPath(c[0]); err != nil {
			t.Logf("%s not found: skipped", c[0])
			continue
		}
		args := append(c[1:], "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic", "-")
		cmd := exec.Command(c[0], args...)
		cmd.Stdin = strings.NewReader("#include \"" + mustAbs(t, header) + "\"\nint main(void) { return (int)tp_abi_version(); }\n")
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%s: %s", c[0], out)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}
