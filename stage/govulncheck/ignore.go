package govulncheck

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Ignore is a parsed ignore file.
//
// The format follows Trivy's .trivyignore.yaml, so a team keeps one habit:
//
//	vulnerabilities:
//	  - id: GO-2022-1059          # or one of its aliases: CVE-2022-32149, GHSA-...
//	    statement: not reachable with our header limits; upgrade planned
//	    expired_at: 2027-03-01    # required: an acceptance always ends
//
// Until expired_at, a reachable vulnerability the file names is listed as
// accepted and does not fail the scan; from that day on it fails it again.
type Ignore struct {
	Entries []IgnoreEntry
}

// IgnoreEntry accepts one vulnerability until a date.
type IgnoreEntry struct {
	ID        string
	Statement string
	ExpiredAt time.Time
}

// ParseIgnore reads an ignore file. Every entry needs an id and an
// expired_at date (YYYY-MM-DD or RFC 3339).
func ParseIgnore(raw []byte) (Ignore, error) {
	var doc struct {
		Vulnerabilities []struct {
			ID        string `yaml:"id"`
			Statement string `yaml:"statement"`
			ExpiredAt string `yaml:"expired_at"`
		} `yaml:"vulnerabilities"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && err.Error() != "EOF" {
		return Ignore{}, fmt.Errorf("govulncheck: the ignore file is not the expected YAML (vulnerabilities: [{id, statement, expired_at}]): %w", err)
	}
	var ig Ignore
	for i, v := range doc.Vulnerabilities {
		if v.ID == "" {
			return Ignore{}, fmt.Errorf("govulncheck: ignore entry %d has no id; name a GO- ID or one of its aliases", i+1)
		}
		if v.ExpiredAt == "" {
			return Ignore{}, fmt.Errorf("govulncheck: ignore entry %s has no expired_at; give the date the acceptance ends (YYYY-MM-DD)", v.ID)
		}
		t, err := time.Parse(time.DateOnly, v.ExpiredAt)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v.ExpiredAt); err != nil {
				return Ignore{}, fmt.Errorf("govulncheck: ignore entry %s: expired_at %q is not a date (YYYY-MM-DD or RFC 3339)", v.ID, v.ExpiredAt)
			}
		}
		ig.Entries = append(ig.Entries, IgnoreEntry{ID: v.ID, Statement: v.Statement, ExpiredAt: t})
	}
	return ig, nil
}

// Match returns the entry that names e by its ID or an alias; of several,
// the one that expires last.
func (ig Ignore) Match(e *Entry) *IgnoreEntry {
	var best *IgnoreEntry
	for i := range ig.Entries {
		ie := &ig.Entries[i]
		if ie.ID != e.ID && !contains(e.Aliases, ie.ID) {
			continue
		}
		if best == nil || ie.ExpiredAt.After(best.ExpiredAt) {
			best = ie
		}
	}
	return best
}
