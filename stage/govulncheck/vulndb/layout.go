package vulndb

// This file uses only the standard library: it is also compiled, as
// package main with main.go.txt, inside a Go container that builds the
// database from the module proxy (see Directory). Keep it that way.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Stats describes a database layout.
type Stats struct {
	// Entries is the number of OSV entries (ID/<id>.json files).
	Entries int `json:"entries"`
	// Modules is the number of modules in index/modules.json.
	Modules int `json:"modules"`
	// Modified is the database's modification time (index/db.json).
	Modified time.Time `json:"modified"`
}

// entry is the part of an OSV entry the indexes need (OSV schema 1.3,
// as golang.org/x/vulndb's data/osv holds it).
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Introduced string `json:"introduced,omitempty"`
				Fixed      string `json:"fixed,omitempty"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

// The index records, as vuln.go.dev serves them
// (https://go.dev/security/vuln/database#api).
type (
	dbMeta struct {
		Modified time.Time `json:"modified"`
	}
	moduleMeta struct {
		Path  string       `json:"path"`
		Vulns []moduleVuln `json:"vulns"`
	}
	moduleVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Fixed    string    `json:"fixed,omitempty"`
	}
	vulnMeta struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
)

// writeLayout writes the database layout of vuln.go.dev into dst from the
// OSV entries in osvDir (one <ID>.json each): index/db.json,
// index/modules.json, index/vulns.json and ID/<ID>.json, the entry bytes
// unchanged. Entries whose modified time is unset (data/osv leaves it zero;
// vuln.go.dev fills it in from git history) count as modified at
// fallback, the time of the vulndb revision.
func writeLayout(osvDir, dst string, fallback time.Time) (Stats, error) {
	ents, err := os.ReadDir(osvDir)
	if err != nil {
		return Stats{}, fmt.Errorf("vulndb: reading the OSV entries: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "ID"), 0o755); err != nil {
		return Stats{}, err
	}
	if err := os.MkdirAll(filepath.Join(dst, "index"), 0o755); err != nil {
		return Stats{}, err
	}
	var (
		db      dbMeta
		modules = map[string]*moduleMeta{}
		vulns   []vulnMeta
	)
	for _, de := range ents {
		name := de.Name()
		if de.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(osvDir, name))
		if err != nil {
			return Stats{}, err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return Stats{}, fmt.Errorf("vulndb: %s is not an OSV entry: %w", name, err)
		}
		if e.ID == "" || name != e.ID+".json" {
			return Stats{}, fmt.Errorf("vulndb: %s holds entry %q; an entry's file must be named <id>.json", name, e.ID)
		}
		if e.Modified.IsZero() {
			e.Modified = fallback
		}
		if e.Modified.After(db.Modified) {
			db.Modified = e.Modified
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			path := a.Package.Name
			m := modules[path]
			if m == nil {
				m = &moduleMeta{Path: path, Vulns: []moduleVuln{}}
				modules[path] = m
			}
			var fixed string
			for _, r := range a.Ranges {
				if r.Type != "SEMVER" {
					continue
				}
				// The latest fix, unless the range is reintroduced
				// after it (golang.org/x/vuln's NonSupersededFix).
				for _, ev := range r.Events {
					if ev.Fixed != "" && semverLess(fixed, ev.Fixed) {
						fixed = ev.Fixed
					}
				}
				for _, ev := range r.Events {
					if ev.Introduced != "" && ev.Introduced != "0" && semverLess(fixed, ev.Introduced) {
						fixed = ""
						break
					}
				}
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: fixed})
		}
		if err := os.WriteFile(filepath.Join(dst, "ID", name), raw, 0o644); err != nil {
			return Stats{}, err
		}
	}
	if len(vulns) == 0 {
		return Stats{}, fmt.Errorf("vulndb: %s holds no OSV entries; is it golang.org/x/vulndb's data/osv?", osvDir)
	}
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	mods := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	for name, v := range map[string]any{"db.json": db, "modules.json": mods, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return Stats{}, err
		}
		if err := os.WriteFile(filepath.Join(dst, "index", name), b, 0o644); err != nil {
			return Stats{}, err
		}
	}
	return Stats{Entries: len(vulns), Modules: len(mods), Modified: db.Modified}, nil
}

// semverLess reports whether v < w for OSV versions (semver without the
// leading v); "" is less than every version.
func semverLess(v, w string) bool {
	if v == "" {
		return w != ""
	}
	if w == "" {
		return false
	}
	return semverCompare(v, w) < 0
}

// semverCompare compares two semantic versions (MAJOR.MINOR.PATCH with
// an optional -PRERELEASE and +BUILD) by the precedence rules of
// semver.org.
func semverCompare(v, w string) int {
	vc, vp := splitVersion(v)
	wc, wp := splitVersion(w)
	for i := 0; i < 3; i++ {
		if c := cmpNum(vc[i], wc[i]); c != 0 {
			return c
		}
	}
	switch {
	case vp == wp:
		return 0
	case vp == "":
		return 1
	case wp == "":
		return -1
	}
	a, b := strings.Split(vp, "."), strings.Split(wp, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		an, aErr := strconv.ParseUint(a[i], 10, 64)
		bn, bErr := strconv.ParseUint(b[i], 10, 64)
		switch {
		case aErr == nil && bErr == nil:
			if an != bn {
				if an < bn {
					return -1
				}
				return 1
			}
		case aErr == nil:
			return -1 // numeric identifiers sort before alphanumeric ones
		case bErr == nil:
			return 1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return cmpNum(strconv.Itoa(len(a)), strconv.Itoa(len(b)))
}

func splitVersion(v string) (core [3]string, pre string) {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		v, pre = v[:i], v[i+1:]
	}
	parts := strings.SplitN(v, ".", 3)
	for i := range core {
		core[i] = "0"
		if i < len(parts) && parts[i] != "" {
			core[i] = parts[i]
		}
	}
	return core, pre
}

// cmpNum compares decimal strings of any length.
func cmpNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// downloadJSON is what `go mod download -json` prints for one module.
type downloadJSON struct {
	Path, Version, Dir, Error string
}

// parseDownload reads `go mod download -json` output.
func parseDownload(out []byte) (downloadJSON, error) {
	var d downloadJSON
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&d); err != nil {
		return d, fmt.Errorf("vulndb: reading go mod download's output: %w", err)
	}
	if d.Error != "" {
		return d, fmt.Errorf("vulndb: go mod download %s@%s: %s", d.Path, d.Version, d.Error)
	}
	if d.Dir == "" {
		return d, errors.New("vulndb: go mod download named no directory")
	}
	return d, nil
}

// pseudoVersionTime returns the commit time a pseudo-version
// (v0.0.0-20261105234957-e22db6528018) carries, or the zero time.
func pseudoVersionTime(version string) time.Time {
	parts := strings.Split(version, "-")
	if len(parts) < 3 {
		return time.Time{}
	}
	stamp := parts[len(parts)-2]
	if i := strings.LastIndexByte(stamp, '.'); i >= 0 {
		stamp = stamp[i+1:]
	}
	t, err := time.Parse("20060102150405", stamp)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// layoutMain is the command run inside a Go container: it reads `go mod
// download -json golang.org/x/vulndb@VERSION` output and writes the
// layout, printing its Stats as JSON.
func layoutMain(args []string) error {
	fs := flag.NewFlagSet("vulndb", flag.ContinueOnError)
	download := fs.String("download", "", "the output of go mod download -json golang.org/x/vulndb@VERSION")
	out := fs.String("o", "", "where to write the database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(*download)
	if err != nil {
		return err
	}
	d, err := parseDownload(raw)
	if err != nil {
		return err
	}
	st, err := writeLayout(filepath.Join(d.Dir, "data", "osv"), *out, pseudoVersionTime(d.Version))
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(st)
}
