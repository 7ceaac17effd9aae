package app

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jitaccess/jitaccess/audit"
	"github.com/jitaccess/jitaccess/store"
)

// checkpointFile is a checkpoint given to audit verify as a file.
type checkpointFile struct {
	path string
	cp   audit.SignedCheckpoint
}

func readCheckpointFile(path string) (checkpointFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return checkpointFile{}, err
	}
	cp, err := audit.ParseSignedCheckpoint(data)
	if err != nil {
		return checkpointFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return checkpointFile{path: path, cp: cp}, nil
}

// checkCheckpointFiles checks the files' signatures with the public key
// in keyFile (every file must be signed by it), or says on stderr that a
// signature went unchecked, and returns the heads to verify against. The
// code is non-zero when verify must stop: 1 for a bad or missing
// signature, 2 for a key without files.
func checkCheckpointFiles(files []checkpointFile, keyFile string, stderr io.Writer) ([]audit.Checkpoint, int) {
	var pub ed25519.PublicKey
	if keyFile != "" {
		if len(files) == 0 {
			return nil, usageError(stderr, "audit verify", errors.New("--public-key checks the signatures of checkpoint files: pass one with --checkpoint FILE"))
		}
		data, err := os.ReadFile(keyFile)
		if err == nil {
			pub, err = audit.ParsePublicKeyPEM(data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "jitaccess audit verify: --public-key %s: %v\n", keyFile, err)
			return nil, 1
		}
	}
	var out []audit.Checkpoint
	for _, f := range files {
		switch {
		case pub != nil:
			if err := f.cp.VerifySignature(pub); err != nil {
				fmt.Fprintf(stderr, "jitaccess audit verify: checkpoint %s: %v\n", f.path, err)
				return nil, 1
			}
		case len(f.cp.Signature) > 0:
			fmt.Fprintf(stderr, "checkpoint %s: signature not checked (pass --public-key PEMFILE)\n", f.path)
		}
		if f.cp.Head.ID > 0 {
			out = append(out, f.cp.Head)
		}
	}
	return out, 0
}

// checkpointCmd is `jitaccess audit checkpoint`: it verifies the whole
// chain, then writes its size and head, signed with key when there is
// one. A broken chain gets no checkpoint: signing it would vouch for the
// tampering.
func checkpointCmd(ctx context.Context, db *store.DB, key ed25519.PrivateKey, output string, stdout, stderr io.Writer) int {
	res, err := audit.Verify(ctx, db)
	if err != nil {
		fmt.Fprintf(stderr, "jitaccess audit checkpoint: %v\n", err)
		return 1
	}
	if !res.OK {
		fmt.Fprintf(stderr, "jitaccess audit checkpoint: no checkpoint of a broken chain: record %d (%s): %s\n", res.Break.ID, res.Break.Kind, res.Break.Message)
		return 1
	}
	cp := audit.NewCheckpoint(res.Head, time.Now())
	if key != nil {
		cp.Sign(key)
	}
	data, _ := json.Marshal(cp)
	data = append(data, '\n')
	if output == "" {
		stdout.Write(data)
	} else {
		if err := writeFileAtomic(output, data); err != nil {
			fmt.Fprintf(stderr, "jitaccess audit checkpoint: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote checkpoint of %d records (head %s) to %s\n", cp.Size, dashIfEmpty(cp.Head.String(), "none: the log is empty"), output)
	}
	if key == nil {
		fmt.Fprintln(stderr, "the checkpoint is unsigned: anyone who can change it can make it agree with a truncated log; sign it with --sign KEYFILE")
	}
	return 0
}
