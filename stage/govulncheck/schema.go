package govulncheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// govulncheck's JSON output (`-format json`, protocol v1.0.0) is a stream
// of Messages. Its Go types live in golang.org/x/vuln/internal/govulncheck
// and golang.org/x/vuln/internal/osv, which no other module may import, so
// the types below follow that documented schema field for field (the parts
// slipway reads; unknown fields are dropped when decoding).

// ProtocolVersion is the JSON protocol these types decode.
const ProtocolVersion = "v1.0.0"

// Message is one JSON value of govulncheck's output: exactly one field is
// set.
type Message struct {
	Config   *Config   `json:"config,omitempty"`
	Progress *Progress `json:"progress,omitempty"`
	SBOM     *SBOM     `json:"SBOM,omitempty"`
	OSV      *Entry    `json:"osv,omitempty"`
	Finding  *Finding  `json:"finding,omitempty"`
}

// Config describes the scan: the scanner, the database, the Go version and
// the scan level.
type Config struct {
	ProtocolVersion string     `json:"protocol_version"`
	ScannerName     string     `json:"scanner_name,omitempty"`
	ScannerVersion  string     `json:"scanner_version,omitempty"`
	DB              string     `json:"db,omitempty"`
	DBLastModified  *time.Time `json:"db_last_modified,omitempty"`
	GoVersion       string     `json:"go_version,omitempty"`
	ScanLevel       string     `json:"scan_level,omitempty"`
	ScanMode        string     `json:"scan_mode,omitempty"`
}

// Progress is a progress line.
type Progress struct {
	Timestamp *time.Time `json:"time,omitempty"`
	Message   string     `json:"message,omitempty"`
}

// SBOM lists the modules the scan saw.
type SBOM struct {
	GoVersion string    `json:"go_version,omitempty"`
	Modules   []*Module `json:"modules,omitempty"`
	Roots     []string  `json:"roots,omitempty"`
}

// Module is a module path and version.
type Module struct {
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
}

// Finding is one vulnerability at one level. Trace[0] is the vulnerable
// place: a module (the module is required), a package (it is imported) or
// a function (it is called; the rest of Trace is the call path up to an
// entry point of the scanned code).
type Finding struct {
	OSV          string   `json:"osv,omitempty"`
	FixedVersion string   `json:"fixed_version,omitempty"`
	Trace        []*Frame `json:"trace,omitempty"`
}

// Frame is one step of a trace.
type Frame struct {
	Module   string    `json:"module"`
	Version  string    `json:"version,omitempty"`
	Package  string    `json:"package,omitempty"`
	Function string    `json:"function,omitempty"`
	Receiver string    `json:"receiver,omitempty"`
	Position *Position `json:"position,omitempty"`
}

// Position is a place in a source file.
type Position struct {
	Filename string `json:"filename,omitempty"`
	Offset   int    `json:"offset"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
}

// Entry is an OSV entry of the Go vulnerability database (OSV schema
// 1.3), as govulncheck passes it on.
type Entry struct {
	SchemaVersion    string      `json:"schema_version,omitempty"`
	ID               string      `json:"id"`
	Modified         time.Time   `json:"modified,omitempty"`
	Published        time.Time   `json:"published,omitempty"`
	Withdrawn        *time.Time  `json:"withdrawn,omitempty"`
	Aliases          []string    `json:"aliases,omitempty"`
	Summary          string      `json:"summary,omitempty"`
	Details          string      `json:"details"`
	Affected         []Affected  `json:"affected"`
	References       []Reference `json:"references,omitempty"`
	DatabaseSpecific *struct {
		URL          string `json:"url,omitempty"`
		ReviewStatus string `json:"review_status,omitempty"`
	} `json:"database_specific,omitempty"`
}

// Affected is a module an entry affects, with its version ranges and
// vulnerable symbols.
type Affected struct {
	Module struct {
		Path      string `json:"name"`
		Ecosystem string `json:"ecosystem"`
	} `json:"package"`
	Ranges []struct {
		Type   string `json:"type"`
		Events []struct {
			Introduced string `json:"introduced,omitempty"`
			Fixed      string `json:"fixed,omitempty"`
		} `json:"events"`
	} `json:"ranges,omitempty"`
	EcosystemSpecific *struct {
		Packages []struct {
			Path    string   `json:"path"`
			GOOS    []string `json:"goos,omitempty"`
			GOARCH  []string `json:"goarch,omitempty"`
			Symbols []string `json:"symbols,omitempty"`
		} `json:"imports,omitempty"`
	} `json:"ecosystem_specific,omitempty"`
}

// Reference is a link about an entry.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// URL is the entry's page on pkg.go.dev.
func (e *Entry) URL() string {
	if e.DatabaseSpecific != nil && e.DatabaseSpecific.URL != "" {
		return e.DatabaseSpecific.URL
	}
	return "https://pkg.go.dev/vuln/" + e.ID
}

// Decode reads govulncheck's JSON stream.
func Decode(r io.Reader) ([]Message, error) {
	dec := json.NewDecoder(r)
	var out []Message
	for {
		var m Message
		err := dec.Decode(&m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("govulncheck: decoding the JSON output (message %d): %w", len(out)+1, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 || out[0].Config == nil {
		return nil, fmt.Errorf("govulncheck: the JSON output does not start with its config: %.200q", firstBytes(r))
	}
	if v := out[0].Config.ProtocolVersion; v != ProtocolVersion {
		return nil, fmt.Errorf("govulncheck: the JSON output speaks protocol %q, these types %q", v, ProtocolVersion)
	}
	return out, nil
}

func firstBytes(r io.Reader) string {
	if b, ok := r.(*bytes.Reader); ok {
		b.Seek(0, io.SeekStart)
		buf := make([]byte, 200)
		n, _ := b.Read(buf)
		return string(buf[:n])
	}
	return ""
}
