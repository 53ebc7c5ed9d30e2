package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/telepathine/telepathine/engine"
)

// Security flags of the agent and the `keys` / `plaintext` control
// commands (issue 11). Keys are read from files, never from the command
// line, where other users of the host could read them in the process list.

type securityFlags struct {
	keyringFile, networkKeyFile, stateDir *string
	acceptPlaintext, sendPlaintext        *bool
}

func addSecurityFlags(fs *flag.FlagSet) *securityFlags {
	return &securityFlags{
		keyringFile: fs.String("keyring-file", os.Getenv("TELEPATHINE_KEYRING_FILE"),
			"file of AES-256 keys, one per line (base64 or hex of 32 bytes), the first is the primary; env TELEPATHINE_KEYRING_FILE"),
		networkKeyFile: fs.String("network-key-file", "", "file holding a passphrase the cluster key is derived from (argon2id)"),
		acceptPlaintext: fs.Bool("accept-plaintext", false,
			"with a key, still accept plaintext packets (staged upgrade)"),
		sendPlaintext: fs.Bool("send-plaintext", false,
			"with a key, still send plaintext (first upgrade stage; needs --accept-plaintext)"),
		stateDir: fs.String("state-dir", "", "directory persisting the last generation, so a restart always wins"),
	}
}

// apply puts the flags into cfg.Security.
func (f *securityFlags) apply(cfg *engine.Config) error {
	s := &cfg.Security
	if *f.keyringFile != "" {
		keys, err := readKeyring(*f.keyringFile)
		if err != nil {
			return err
		}
		s.Keys = keys
	}
	if *f.networkKeyFile != "" {
		b, err := os.ReadFile(*f.networkKeyFile)
		if err != nil {
			return err
		}
		if s.NetworkKey = strings.TrimRight(string(b), "\r\n"); s.NetworkKey == "" {
			return fmt.Errorf("%s: empty passphrase", *f.networkKeyFile)
		}
	}
	s.AcceptPlaintext = *f.acceptPlaintext
	s.SendPlaintext = *f.sendPlaintext
	s.StateDir = *f.stateDir
	return nil
}

// readKeyring reads one key per line; blank lines and lines starting with
// '#' are skipped.
func readKeyring(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := engine.ParseKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no key", path)
	}
	return keys, nil
}

// cmdKeys is `keys` with a keyring verb (list, install, use, remove), and
// without one the listing of a peer's data keys.
func cmdKeys(args []string, out io.Writer) error {
	fs, control := newFlags("keys")
	peer := fs.String("peer", "", "list this peer's data keys (default: the agent's own)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return listDataKeys(*control, *peer, out)
	}
	verb := fs.Arg(0)
	switch verb {
	case "list", "install", "use", "remove":
	default:
		return fmt.Errorf("unknown keys operation %q (list, install, use, remove)", verb)
	}
	if err := fs.Parse(fs.Args()[1:]); err != nil { // flags may follow the verb
		return err
	}
	want := 1
	if verb == "list" {
		want = 0
	}
	if fs.NArg() != want {
		return errors.New("usage: keys list | keys install KEY | keys use KEY | keys remove KEY")
	}
	req := request{Op: "keyring", Which: verb}
	if want == 1 {
		k, err := engine.ParseKey(fs.Arg(0))
		if err != nil {
			return err
		}
		req.Key = base64.StdEncoding.EncodeToString(k)
	}
	resp, _, _, err := call(*control, req)
	if err != nil {
		return err
	}
	for i, k := range resp.Keys {
		if i == 0 {
			fmt.Fprintln(out, k, "(primary)")
		} else {
			fmt.Fprintln(out, k)
		}
	}
	return nil
}

func cmdPlaintext(args []string, out io.Writer) error {
	fs, control := newFlags("plaintext")
	accept := fs.Bool("accept", false, "accept plaintext packets")
	send := fs.Bool("send", false, "send plaintext packets")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: plaintext --accept=BOOL --send=BOOL")
	}
	_, _, _, err := call(*control, request{Op: "plaintext", Accept: *accept, Send: *send})
	return err
}

// handleSecurity answers the keyring and plaintext control requests.
func handleSecurity(p *engine.Peer, req request) response {
	if req.Op == "plaintext" {
		if err := p.SetPlaintext(req.Accept, req.Send); err != nil {
			return response{Error: err.Error()}
		}
		return response{OK: true}
	}
	var err error
	if req.Which != "list" {
		var k []byte
		if k, err = engine.ParseKey(req.Key); err != nil {
			return response{Error: err.Error()}
		}
		switch req.Which {
		case "install":
			err = p.InstallKey(k)
		case "use":
			err = p.UseKey(k)
		case "remove":
			err = p.RemoveKey(k)
		default:
			err = fmt.Errorf("unknown keyring operation %q", req.Which)
		}
	}
	if err != nil {
		return response{Error: err.Error()}
	}
	r := response{OK: true}
	for _, k := range p.ClusterKeys() {
		r.Keys = append(r.Keys, base64.StdEncoding.EncodeToString(k))
	}
	return r
}
