// Command trivydb writes a small Trivy vulnerability DB (schema
// db.SchemaVersion, the layout `trivy --db-repository` downloads) with real
// advisory records, offline, using trivy-db's own storage code, so that the
// records are laid out exactly as in the published DB.
//
// It is a separate module so that trivy-db's dependencies stay out of
// slipway's go.mod; `make engine` builds and runs it and pushes the result
// as an OCI artifact to the local mirror.
//
// Usage: trivydb -o db.tar.gz
package main

import (
	"archive/tar"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
	bolt "go.etcd.io/bbolt"
)

// goSource is the bucket Trivy reads Go module advisories from.
const goSource = "go::GitHub Security Advisory Go"

// advisory is one real, published advisory for one Go module.
type advisory struct {
	ID          string
	Module      string
	Vulnerable  []string
	Patched     []string
	Title       string
	Description string
	CWE         string
	CVSS        string
	Score       float64
	Published   string
	References  []string
}

// advisories are copied from the GitHub Advisory Database / NVD. They are
// the ones slipway's tests plant: a binary built with golang.org/x/text
// v0.3.5 carries both (two HIGH findings).
var advisories = []advisory{
	{
		ID:          "CVE-2021-38561",
		Module:      "golang.org/x/text",
		Vulnerable:  []string{">= 0, < 0.3.7"},
		Patched:     []string{"0.3.7"},
		Title:       "golang: out-of-bounds read in golang.org/x/text/language leads to DoS",
		Description: "golang.org/x/text/language in golang.org/x/text before 0.3.7 can panic with an out-of-bounds read during BCP 47 language tag parsing. Index calculation is mishandled. If parsing untrusted user input, this can be used as a vector for a denial-of-service attack.",
		CWE:         "CWE-125",
		CVSS:        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
		Score:       7.5,
		Published:   "2022-12-26T06:15:00Z",
		References: []string{
			"https://nvd.nist.gov/vuln/detail/CVE-2021-38561",
			"https://go.dev/cl/340830",
			"https://pkg.go.dev/vuln/GO-2021-0113",
		},
	},
	{
		ID:          "CVE-2022-32149",
		Module:      "golang.org/x/text",
		Vulnerable:  []string{">= 0, < 0.3.8"},
		Patched:     []string{"0.3.8"},
		Title:       "golang: golang.org/x/text/language: ParseAcceptLanguage takes a long time to parse complex tags",
		Description: "An attacker may cause a denial of service by crafting an Accept-Language header which ParseAcceptLanguage will take significant time to parse.",
		CWE:         "CWE-772",
		CVSS:        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
		Score:       7.5,
		Published:   "2022-10-14T15:15:00Z",
		References: []string{
			"https://nvd.nist.gov/vuln/detail/CVE-2022-32149",
			"https://go.dev/issue/56152",
			"https://pkg.go.dev/vuln/GO-2022-1059",
		},
	},
}

func main() {
	out := flag.String("o", "db.tar.gz", "where to write the DB archive (trivy.db + metadata.json)")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	dir, err := os.MkdirTemp("", "trivydb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := fill(dir); err != nil {
		return err
	}
	return archive(out, dir, []string{"trivy.db", "metadata.json"})
}

func fill(dir string) error {
	if err := db.Init(dir); err != nil {
		return fmt.Errorf("creating DB: %w", err)
	}
	dbc := db.Config{}
	err := dbc.BatchUpdate(func(tx *bolt.Tx) error {
		if err := dbc.PutDataSource(tx, goSource, types.DataSource{
			ID:   vulnerability.GHSA,
			Name: "GitHub Security Advisory Go",
			URL:  "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Ago",
		}); err != nil {
			return err
		}
		for _, a := range advisories {
			if err := dbc.PutAdvisoryDetail(tx, a.ID, a.Module, []string{goSource}, types.Advisory{
				VulnerableVersions: a.Vulnerable,
				PatchedVersions:    a.Patched,
			}); err != nil {
				return err
			}
			if err := dbc.SaveAdvisoryDetails(tx, a.ID); err != nil {
				return err
			}
			published, err := time.Parse(time.RFC3339, a.Published)
			if err != nil {
				return fmt.Errorf("%s: %w", a.ID, err)
			}
			if err := dbc.PutVulnerability(tx, a.ID, types.Vulnerability{
				Title:       a.Title,
				Description: a.Description,
				Severity:    types.SeverityHigh.String(),
				CweIDs:      []string{a.CWE},
				VendorSeverity: types.VendorSeverity{
					vulnerability.GHSA: types.SeverityHigh,
					vulnerability.NVD:  types.SeverityHigh,
				},
				CVSS: types.VendorCVSS{
					vulnerability.NVD:  {V3Vector: a.CVSS, V3Score: a.Score},
					vulnerability.GHSA: {V3Vector: a.CVSS, V3Score: a.Score},
				},
				References:    a.References,
				PublishedDate: &published,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing advisories: %w", err)
	}
	if err := dbc.DeleteAdvisoryDetailBucket(); err != nil {
		return fmt.Errorf("dropping the staging bucket: %w", err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("closing DB: %w", err)
	}
	// NextUpdate far ahead: an offline DB is never "stale" by itself; the
	// mirror is rebuilt when the records change.
	now := time.Now().UTC().Truncate(time.Second)
	return metadata.NewClient(dir).Update(metadata.Metadata{
		Version:    db.SchemaVersion,
		NextUpdate: now.AddDate(10, 0, 0),
		UpdatedAt:  now,
	})
}

func archive(out, dir string, names []string) error {
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		if err := addFile(tw, filepath.Join(dir, n), n); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

func addFile(tw *tar.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
