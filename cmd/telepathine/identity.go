package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/telepathine/telepathine/engine"
)

// Identity mode (issue 13): the agent's flags and `telepathine identity
// new`, which creates a key pair.

type identityFlags struct {
	key, allow *string
	tofu       *bool
}

func addIdentityFlags(fs *flag.FlagSet) *identityFlags {
	return &identityFlags{
		key: fs.String("identity-key", "",
			"this peer's Ed25519 private key file (from `telepathine identity new`): turns identity mode on"),
		allow: fs.String("allow-keys", "",
			"allow-list of peers' public keys: a file of `NAME KEY` lines or a directory of NAME.pub files"),
		tofu: fs.Bool("tofu", false, "trust on first use: pin the first key seen for each name not on the allow-list"),
	}
}

func (f *identityFlags) apply(cfg *engine.Config) {
	cfg.Identity = engine.IdentityConfig{KeyFile: *f.key, AllowList: *f.allow, TOFU: *f.tofu}
}

// cmdIdentity: `identity new --out DIR`.
func cmdIdentity(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		return errors.New("usage: identity new --out DIR")
	}
	fs := flag.NewFlagSet("identity new", flag.ContinueOnError)
	dir := fs.String("out", "", "directory to write identity.key (0600) and identity.pub into")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() != 0 {
		return errors.New("usage: identity new --out DIR")
	}
	keyFile, pubFile, pub, err := engine.GenerateIdentity(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "private key: %s (keep it; pass it as --identity-key)\n", keyFile)
	fmt.Fprintf(out, "public key:  %s (copy it as NAME.pub into every peer's --allow-keys directory)\n", pubFile)
	fmt.Fprintf(out, "allow-list line: NAME %s\n", hex.EncodeToString(pub))
	return nil
}
