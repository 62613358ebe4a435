package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// PEM block types of the private keys LoadSigner reads.
const (
	// SigstorePrivateKeyPEM is what `cosign generate-key-pair` writes: a
	// PKCS #8 key encrypted with the password (scrypt + secretbox).
	SigstorePrivateKeyPEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
	// CosignPrivateKeyPEM is the older name of the same format.
	CosignPrivateKeyPEM = "ENCRYPTED COSIGN PRIVATE KEY"
)

// KeyID names a public key: the base64 SHA-256 of its PKIX encoding, the
// hint sigstore bundles carry. It is what a gate's refusal names, and
// what a team writes next to each trusted key when rotating.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("attest: encoding the public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// Signer signs attestations with one private key.
type Signer struct {
	signer signature.Signer
	pub    crypto.PublicKey
	alg    signature.AlgorithmDetails
	keyID  string
}

var _ sign.Keypair = (*Signer)(nil)

// LoadSigner reads a private key in PEM: cosign's encrypted key (as
// `cosign generate-key-pair` writes it; password is its COSIGN_PASSWORD)
// or an unencrypted PKCS #8, SEC 1 (EC) or PKCS #1 (RSA) key. ECDSA
// (P-256, P-384, P-521), RSA and Ed25519 keys are accepted, signing as
// cosign does with each. A CI gives the key as a masked variable or
// Dagger secret; it is held in memory only. The PEM may come base64
// encoded (`base64 -w0 cosign.key`): GitLab masks only single-line
// values, and a PEM key has several lines.
func LoadSigner(pemKey, password []byte) (*Signer, error) {
	block, rest := pem.Decode(unwrapBase64(pemKey))
	if block == nil {
		return nil, errors.New("attest: the signing key is neither PEM nor base64 of PEM; give the private key file `cosign generate-key-pair` wrote (cosign.key), a PKCS #8 PEM key, or either as one line of base64 (base64 -w0 cosign.key)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("attest: the signing key holds more than one PEM block; give one private key")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case SigstorePrivateKeyPEM, CosignPrivateKeyPEM:
		der, derr := encrypted.Decrypt(block.Bytes, password)
		if derr != nil {
			return nil, fmt.Errorf("attest: decrypting the signing key (%s): wrong password? %w", block.Type, derr)
		}
		key, err = x509.ParsePKCS8PrivateKey(der)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PUBLIC KEY":
		return nil, errors.New("attest: the signing key is a public key; signing needs the private key (the public key goes to the gate's trusted keys)")
	default:
		return nil, fmt.Errorf("attest: a %q PEM block is not a private key this signer reads (%s, PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY)", block.Type, SigstorePrivateKeyPEM)
	}
	if err != nil {
		return nil, fmt.Errorf("attest: parsing the signing key: %w", err)
	}
	cs, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("attest: a %T cannot sign", key)
	}
	pub := cs.Public()
	alg, err := signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("attest: the signing key: %w", err)
	}
	s, err := signature.LoadSignerFromAlgorithmDetails(cs, alg, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("attest: the signing key: %w", err)
	}
	id, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	return &Signer{signer: s, pub: pub, alg: alg, keyID: id}, nil
}

// KeyID is the signing key's ID (see the function KeyID).
func (s *Signer) KeyID() string { return s.keyID }

// PublicKeyPEM is the public key to trust, in the PEM form `cosign verify
// --key` and NewVerifier read.
func (s *Signer) PublicKeyPEM() []byte {
	b, _ := cryptoutils.MarshalPublicKeyToPEM(s.pub)
	return b
}

// GetHashAlgorithm implements sign.Keypair.
func (s *Signer) GetHashAlgorithm() protocommon.HashAlgorithm { return s.alg.GetProtoHashType() }

// GetSigningAlgorithm implements sign.Keypair.
func (s *Signer) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return s.alg.GetSignatureAlgorithm()
}

// GetHint implements sign.Keypair: the key ID.
func (s *Signer) GetHint() []byte { return []byte(s.keyID) }

// GetKeyAlgorithm implements sign.Keypair.
func (s *Signer) GetKeyAlgorithm() string {
	switch s.alg.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	}
	return ""
}

// GetPublicKey implements sign.Keypair.
func (s *Signer) GetPublicKey() crypto.PublicKey { return s.pub }

// GetPublicKeyPem implements sign.Keypair.
func (s *Signer) GetPublicKeyPem() (string, error) { return string(s.PublicKeyPEM()), nil }

// SignData implements sign.Keypair: the signature of data, and data's
// digest.
func (s *Signer) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	sig, err := s.signer.SignMessage(bytes.NewReader(data), options.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("attest: signing: %w", err)
	}
	digest := data
	if h := s.alg.GetHashType(); h != crypto.Hash(0) {
		hh := h.New()
		hh.Write(data)
		digest = hh.Sum(nil)
	}
	return sig, digest, nil
}

// TrustedKey is a public key the gate accepts signatures from.
type TrustedKey struct {
	// ID is KeyID of the key.
	ID string
	// Name is what the team calls it ("2026-q4", "ci-signing"), shown in
	// refusals; empty shows the ID.
	Name     string
	verifier signature.Verifier
}

// ParsePublicKey reads a PEM public key (what `cosign generate-key-pair`
// writes to cosign.pub) as a trusted key named name.
func ParsePublicKey(name string, pemKey []byte) (TrustedKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemKey)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("attest: trusted key %q is not a PEM public key: %w", name, err)
	}
	v, err := signature.LoadDefaultVerifier(pub, options.WithED25519ph())
	if err != nil {
		return TrustedKey{}, fmt.Errorf("attest: trusted key %q: %w", name, err)
	}
	id, err := KeyID(pub)
	if err != nil {
		return TrustedKey{}, err
	}
	return TrustedKey{ID: id, Name: name, verifier: v}, nil
}

func (k TrustedKey) String() string {
	if k.Name != "" {
		return fmt.Sprintf("%s (key ID %s)", k.Name, k.ID)
	}
	return "key ID " + k.ID
}

// ParseTrustedKeys reads every PEM public key in pemKeys (several keys
// concatenated, one file for rotation). A block's "Name" header names the
// key (`Name: 2026-q4` on the line after BEGIN); without it the key is
// "key N". Like the signing key, the whole may come base64 encoded.
func ParseTrustedKeys(pemKeys []byte) ([]TrustedKey, error) {
	var keys []TrustedKey
	rest := unwrapBase64(pemKeys)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n := block.Headers["Name"]
		if n == "" {
			n = fmt.Sprintf("key %d", len(keys)+1)
		}
		delete(block.Headers, "Name")
		k, err := ParsePublicKey(n, pem.EncodeToMemory(block))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("attest: no PEM public key in the trusted keys; give cosign.pub (several concatenated to rotate)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("attest: the trusted keys hold something after the last PEM block")
	}
	return keys, nil
}

// unwrapBase64 returns the PEM inside b when b is base64 (standard
// encoding, whitespace allowed) of a PEM text, and b otherwise: a PEM
// text is never valid base64, because of its dashes.
func unwrapBase64(b []byte) []byte {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || bytes.HasPrefix(t, []byte("-----")) {
		return b
	}
	clean := bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, t)
	dec := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(dec, clean)
	if err != nil || !bytes.HasPrefix(bytes.TrimSpace(dec[:n]), []byte("-----BEGIN ")) {
		return b
	}
	return dec[:n]
}

// GenerateKeyPair makes a new ECDSA P-256 key pair, the kind `cosign
// generate-key-pair` makes, as PEM: the private key unencrypted (PKCS #8,
// for SIGNING_KEY; keep it in a CI secret, never in a repository) and the
// public key (for the gate's trusted keys, which a repository may hold).
// It exists for throwaway keys, such as `make demo`'s; a team's own key is
// better made with cosign, which encrypts it with a password.
func GenerateKeyPair() (private, public []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("attest: generating a key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("attest: encoding the key: %w", err)
	}
	public, err = cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("attest: encoding the public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), public, nil
}
