package attest

import (
	"context"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// The variables a CI job (or a tool container, from Dagger secrets) gives
// the signing key and the trusted keys in.
const (
	// SigningKeyEnv holds the private key's PEM (cosign.key), a masked CI
	// variable or a Dagger secret; never a flag or a file in the image.
	SigningKeyEnv = "SIGNING_KEY"
	// SigningKeyPasswordEnv holds the password of cosign's encrypted key
	// (COSIGN_PASSWORD is read too).
	SigningKeyPasswordEnv = "SIGNING_KEY_PASSWORD"
	// TrustedKeysEnv holds the trusted public keys' PEM (cosign.pub; several
	// concatenated to rotate), or TrustedKeysFileEnv a file of them.
	TrustedKeysEnv     = "SLIPWAY_TRUSTED_KEYS"
	TrustedKeysFileEnv = "SLIPWAY_TRUSTED_KEYS_FILE"
)

// SignerFromEnv loads the signing key from SigningKeyEnv; without one it
// returns nil and no error (the caller decides whether signing is
// required).
func SignerFromEnv(getenv func(string) string) (*Signer, error) {
	key := getenv(SigningKeyEnv)
	if key == "" {
		return nil, nil
	}
	pw := getenv(SigningKeyPasswordEnv)
	if pw == "" {
		pw = getenv("COSIGN_PASSWORD")
	}
	s, err := LoadSigner([]byte(key), []byte(pw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SigningKeyEnv, err)
	}
	return s, nil
}

// VerifierFromEnv loads the trusted keys from TrustedKeysEnv or the file
// TrustedKeysFileEnv names; without either it returns nil and no error.
func VerifierFromEnv(getenv func(string) string) (*Verifier, error) {
	pemKeys := []byte(getenv(TrustedKeysEnv))
	if len(pemKeys) == 0 {
		path := getenv(TrustedKeysFileEnv)
		if path == "" {
			return nil, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", TrustedKeysFileEnv, err)
		}
		pemKeys = b
	}
	keys, err := ParseTrustedKeys(pemKeys)
	if err != nil {
		return nil, err
	}
	return NewVerifier(keys...)
}

// SBOMs are an image's SBOM documents, as stage/sbom writes them.
type SBOMs struct {
	CycloneDX, SPDX []byte
}

// AttestSBOMs signs each SBOM document given as an attestation about
// image (CycloneDXPredicate, SPDXPredicate) and attaches them, at once.
// The hashes are in that order, of the documents given.
func (s *Signer) AttestSBOMs(ctx context.Context, image name.Digest, docs SBOMs, opts ...remote.Option) ([]v1.Hash, error) {
	type doc struct {
		pt  string
		doc []byte
	}
	var todo []doc
	for _, d := range []doc{{CycloneDXPredicate, docs.CycloneDX}, {SPDXPredicate, docs.SPDX}} {
		if len(d.doc) > 0 {
			todo = append(todo, d)
		}
	}
	if len(todo) == 0 {
		return nil, fmt.Errorf("attest: %s: no SBOM document to attest", image)
	}
	out := make([]v1.Hash, len(todo))
	g, ctx := errgroup.WithContext(ctx)
	for i, d := range todo {
		g.Go(func() error {
			h, err := s.Attest(ctx, image, d.pt, jsonObject(d.doc), opts...)
			out[i] = h
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
