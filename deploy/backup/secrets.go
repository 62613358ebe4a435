package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// sealedField holds a Secret's data, encrypted, in place of data and
// stringData inside a snapshot. It is not a Secret field: Restore opens it
// before anything reaches the API server.
const sealedField = "slipwaySealedData"

// WithEncryptedSecrets includes Secrets, with their data sealed by
// AES-256-GCM under key (32 bytes): the registry holds ciphertext only, and
// Restore needs WithKey(key) to bring them back.
func WithEncryptedSecrets(key []byte) Option {
	return func(o *options) {
		o.kinds = append(o.kinds, SecretsKind)
		o.key = key
	}
}

func seal(obj *unstructured.Unstructured, key []byte) error {
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	data, _, _ := unstructured.NestedMap(obj.Object, "data")
	plain, err := json.Marshal(data)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	// The Secret's name is authenticated too: a sealed value cannot be
	// moved onto another Secret unnoticed.
	sealed := aead.Seal(nonce, nonce, plain, []byte(obj.GetName()))
	unstructured.RemoveNestedField(obj.Object, "data")
	unstructured.RemoveNestedField(obj.Object, "stringData")
	obj.Object[sealedField] = base64.StdEncoding.EncodeToString(sealed)
	return nil
}

func open(obj *unstructured.Unstructured, key []byte) error {
	s, ok := obj.Object[sealedField].(string)
	if !ok {
		return nil
	}
	if key == nil {
		return fmt.Errorf("Secret %s is encrypted in the snapshot: pass backup.WithKey with the key it was taken with", obj.GetName())
	}
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) < aead.NonceSize() {
		return fmt.Errorf("Secret %s: the sealed data is damaged", obj.GetName())
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(obj.GetName()))
	if err != nil {
		return fmt.Errorf("Secret %s: cannot decrypt (wrong key?): %w", obj.GetName(), err)
	}
	var data map[string]any
	if err := json.Unmarshal(plain, &data); err != nil {
		return fmt.Errorf("Secret %s: %w", obj.GetName(), err)
	}
	delete(obj.Object, sealedField)
	if len(data) > 0 {
		obj.Object["data"] = data
	}
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("backup: the secrets key must be 32 bytes (AES-256)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
