// Package mirror holds the local OCI registry that stands in for Docker Hub,
// gcr.io, ghcr.io and quay.io when no registry is reachable, the helpers that
// build the images it serves, and a file-backed Go module proxy for the
// containers that build Dagger modules.
//
// The registry is go-containerregistry's pkg/registry with two additions:
// blobs live on disk, and every manifest PUT is journaled to disk and
// replayed on start, so that what was pushed (seeded images, or anything a
// pipeline published) survives a restart of the engine.
package mirror

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is an OCI distribution registry whose blobs and manifests are
// kept on disk.
type Registry struct {
	blobDir     string
	manifestDir string
	logger      *log.Logger

	inner   http.Handler
	mu      sync.Mutex // serialises journal appends
	journal *os.File
}

// RegistryOption configures a Registry.
type RegistryOption func(*Registry)

// WithLogger makes the registry log every request to l.
func WithLogger(l *log.Logger) RegistryOption {
	return func(r *Registry) { r.logger = l }
}

// NewRegistry returns a registry that keeps blobs in blobDir (safe to share
// between registries: blobs are content-addressed and written by rename) and
// its manifest journal in manifestDir (one per registry). Manifests found in
// the journal are loaded before NewRegistry returns.
func NewRegistry(blobDir, manifestDir string, opts ...RegistryOption) (*Registry, error) {
	r := &Registry{blobDir: blobDir, manifestDir: manifestDir}
	for _, o := range opts {
		o(r)
	}
	for _, d := range []string{blobDir, filepath.Join(manifestDir, "sha256")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating registry directory: %w", err)
		}
	}
	ropts := []registry.Option{registry.WithBlobHandler(registry.NewDiskBlobHandler(blobDir))}
	if r.logger != nil {
		ropts = append(ropts, registry.Logger(r.logger))
	} else {
		ropts = append(ropts, registry.Logger(log.New(io.Discard, "", 0)))
	}
	r.inner = registry.New(ropts...)
	if err := r.replay(); err != nil {
		return nil, err
	}
	j, err := os.OpenFile(r.journalPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening manifest journal: %w", err)
	}
	r.journal = j
	return r, nil
}

// Close releases the journal file.
func (r *Registry) Close() error { return r.journal.Close() }

// journalEntry records one successful manifest PUT, in order: an index can
// only be replayed after the manifests it points to.
type journalEntry struct {
	Repo      string `json:"repo"`
	Ref       string `json:"ref"`
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

func (r *Registry) journalPath() string { return filepath.Join(r.manifestDir, "journal.jsonl") }

func (r *Registry) bodyPath(hexDigest string) string {
	return filepath.Join(r.manifestDir, "sha256", hexDigest)
}

// ServeHTTP journals manifest PUTs that the inner registry accepted and
// passes everything else through.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet {
		r.closeRange(req)
	}
	repo, ref, ok := manifestPath(req.URL.Path)
	if !ok || req.Method != http.MethodPut {
		r.inner.ServeHTTP(w, req)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "reading manifest: "+err.Error(), http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusRecorder{ResponseWriter: w}
	r.inner.ServeHTTP(rec, req)
	if rec.status/100 != 2 {
		return
	}
	if err := r.record(repo, ref, req.Header.Get("Content-Type"), body); err != nil && r.logger != nil {
		// The push itself succeeded; only persistence failed. Say so loudly
		// rather than fail a push the client already saw succeed.
		r.logger.Printf("journaling manifest %s:%s: %v", repo, ref, err)
	}
}

func (r *Registry) record(repo, ref, mediaType string, body []byte) error {
	sum := sha256.Sum256(body)
	hexDigest := hex.EncodeToString(sum[:])
	if err := writeFileAtomic(r.bodyPath(hexDigest), body); err != nil {
		return err
	}
	line, err := json.Marshal(journalEntry{Repo: repo, Ref: ref, MediaType: mediaType, Digest: "sha256:" + hexDigest})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.journal.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("appending to manifest journal: %w", err)
	}
	return nil
}

// replay feeds the journal back into the in-memory manifest store.
func (r *Registry) replay() error {
	f, err := os.Open(r.journalPath())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening manifest journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var e journalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// A torn last line after a crash must not make the registry
			// unusable: skip it.
			continue
		}
		body, err := os.ReadFile(r.bodyPath(strings.TrimPrefix(e.Digest, "sha256:")))
		if err != nil {
			continue
		}
		req := httptest.NewRequest(http.MethodPut, "/v2/"+e.Repo+"/manifests/"+e.Ref, bytes.NewReader(body))
		req.Header.Set("Content-Type", e.MediaType)
		rec := httptest.NewRecorder()
		r.inner.ServeHTTP(rec, req)
		if rec.Code/100 != 2 && r.logger != nil {
			r.logger.Printf("replaying journal line %d (%s:%s): %d %s", n, e.Repo, e.Ref, rec.Code, rec.Body.String())
		}
	}
	return sc.Err()
}

// closeRange gives an open-ended Range of a blob GET ("bytes=N-") its end.
// containerd resumes an interrupted layer download with one, and
// go-containerregistry's registry understands only "bytes=N-M": it
// answered 416, and every later pull of that layer failed the same way
// until the engine's partial download was removed by hand.
func (r *Registry) closeRange(req *http.Request) {
	rng := req.Header.Get("Range")
	start, open := strings.CutPrefix(rng, "bytes=")
	if !open || !strings.HasSuffix(start, "-") || strings.ContainsAny(start, ",") {
		return
	}
	hexDigest, ok := blobPath(req.URL.Path)
	if !ok {
		return
	}
	fi, err := os.Stat(filepath.Join(r.blobDir, "sha256", hexDigest))
	if err != nil || fi.Size() == 0 {
		return // the inner registry says what is wrong
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%s%d", start, fi.Size()-1))
}

// blobPath returns the hex digest of /v2/<repo>/blobs/sha256:<hex>.
func blobPath(p string) (string, bool) {
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return "", false
	}
	i := strings.LastIndex(rest, "/blobs/sha256:")
	if i <= 0 {
		return "", false
	}
	h := rest[i+len("/blobs/sha256:"):]
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", false
	}
	return h, true
}

// manifestPath splits /v2/<repo>/manifests/<ref>.
func manifestPath(p string) (repo, ref string, ok bool) {
	rest, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+len("/manifests/"):], true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader remembers the status the inner registry answered.
func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Write counts an implicit 200, as net/http does.
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
