package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// LoadCatalog reads a catalog from a JSON file, rejecting unknown fields so
// that a misspelt key fails the start-up instead of being ignored.
func LoadCatalog(path string) (Catalog, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- the path is the operator's -config flag.
	if err != nil {
		return Catalog{}, fmt.Errorf("manifest: catalog: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return Catalog{}, fmt.Errorf("manifest: catalog %s: %w", path, err)
	}
	return c, nil
}
