package secretscan

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DirOption configures Dir.
type DirOption func(*dirOptions)

type dirOptions struct {
	skip []string
}

// Skip leaves out the entries that match one of the patterns (path.Match
// syntax), and everything under them. A pattern without a slash matches a
// name at any depth (".git", "*.sock"); one with a slash matches the
// slash-separated path from root ("build/cache"). Use it for what a run
// cannot have written, such as a checkout's .git, never to silence a
// finding.
func Skip(patterns ...string) DirOption {
	return func(o *dirOptions) { o.skip = append(o.skip, patterns...) }
}

func (o *dirOptions) skipped(rel string) bool {
	rel = filepath.ToSlash(rel)
	for _, p := range o.skip {
		subject := rel
		if !strings.Contains(p, "/") {
			subject = path.Base(rel)
		}
		if ok, _ := path.Match(p, subject); ok {
			return true
		}
	}
	return false
}

// Dir searches every regular file under root, inside the archives among
// them, and the paths of every file, directory and symlink (and symlink
// targets; links are not followed). Places are named by their path joined
// to root as given. Unreadable files are errors: a leak test must not pass
// because it could not look.
func (s *Scanner) Dir(root string, opts ...DirOption) (Findings, error) {
	var o dirOptions
	for _, opt := range opts {
		opt(&o)
	}
	for _, p := range o.skip {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("secretscan: skip pattern %q: %w", p, err)
		}
	}
	// A root that is a symlink to a directory (a temporary directory on
	// macOS, a "latest" link) is searched, not just named: WalkDir
	// follows a root with a trailing separator.
	if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if st, err := os.Stat(root); err == nil && st.IsDir() {
			root += string(filepath.Separator)
		}
	}
	var out Findings
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return s.errorf(p, "%w", err)
		}
		if p != root {
			// The path from root, not just the name, so a value with a
			// "/" in it is found across directories; only matches that
			// end in this entry's name are its own (its parents report
			// theirs).
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return s.errorf(p, "%w", err)
			}
			if o.skipped(rel) {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			s.match(p+" (name)", []byte(rel), len(rel)-len(d.Name()), 0, &out)
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return s.errorf(p, "%w", err)
			}
			s.name(p, "link target", target, &out)
		case d.Type().IsRegular():
			return s.file(p, &out)
		}
		return nil
	})
	return out.sorted(), err
}

// File searches the file at path, and inside it if it is an archive.
func (s *Scanner) File(path string) (Findings, error) {
	var out Findings
	err := s.file(path, &out)
	return out.sorted(), err
}

func (s *Scanner) file(path string, out *Findings) error {
	f, err := os.Open(path)
	if err != nil {
		return s.errorf(path, "%w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return s.errorf(path, "%w", err)
	}
	return s.content(path, f, f, fi.Size(), 0, out)
}

// content searches one piece of content: inside it when its first bytes
// say it is an archive (by content, not by name: blobs and artifacts often
// have none), else as bytes. When ra is not nil it reads the same bytes as
// r, size of them, at random (zip needs that).
func (s *Scanner) content(where string, r io.Reader, ra io.ReaderAt, size int64, depth int, out *Findings) error {
	if depth >= maxDepth {
		return s.stream(where, r, out)
	}
	br := bufio.NewReaderSize(r, 4096)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF {
		return s.errorf(where, "reading: %w", err)
	}
	switch {
	case isGzip(head):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return s.errorf(where, "gunzip: %w", err)
		}
		defer zr.Close()
		// A gzip stream has no member names: the content keeps the
		// place's name, and offsets count decompressed bytes.
		return s.content(where, zr, nil, 0, depth+1, out)
	case isTar(head):
		return s.tar(where, br, depth, out)
	case isZip(head):
		if ra == nil {
			f, n, err := spool(br)
			if err != nil {
				return s.errorf(where, "spooling zip: %w", err)
			}
			defer func() {
				f.Close()
				os.Remove(f.Name())
			}()
			ra, size = f, n
		}
		return s.zip(where, ra, size, depth, out)
	default:
		return s.stream(where, br, out)
	}
}

func (s *Scanner) tar(where string, r io.Reader, depth int, out *Findings) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return s.errorf(where, "reading tar: %w", err)
		}
		member := where + "!/" + h.Name
		s.name(member, "name", h.Name, out)
		for _, f := range [...]struct{ what, text string }{{"link target", h.Linkname}, {"owner", h.Uname}, {"group", h.Gname}} {
			if f.text != "" {
				s.name(member, f.what, f.text, out)
			}
		}
		// PAX records carry xattrs and long or non-ASCII values.
		keys := make([]string, 0, len(h.PAXRecords))
		for k := range h.PAXRecords {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s.name(member, "PAX record", k+"="+h.PAXRecords[k], out)
		}
		if h.FileInfo().Mode().IsRegular() {
			if err := s.content(member, tr, nil, 0, depth+1, out); err != nil {
				return err
			}
		}
	}
}

func (s *Scanner) zip(where string, ra io.ReaderAt, size int64, depth int, out *Findings) error {
	zr, err := zip.NewReader(ra, size)
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		return s.errorf(where, "reading zip: %w", err)
	}
	if zr.Comment != "" {
		s.name(where, "zip comment", zr.Comment, out)
	}
	for _, f := range zr.File {
		member := where + "!/" + f.Name
		s.name(member, "name", f.Name, out)
		if f.Comment != "" {
			s.name(member, "comment", f.Comment, out)
		}
		if len(f.Extra) > 0 {
			s.name(member, "extra field", string(f.Extra), out)
		}
		if f.FileInfo().IsDir() {
			continue
		}
		// Symlinks too: a zip stores a link's target as its content.
		rc, err := f.Open()
		if err != nil {
			return s.errorf(member, "%w", err)
		}
		err = s.content(member, rc, nil, 0, depth+1, out)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// spool copies a stream to a temporary file, for formats read at random.
func spool(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "secretscan-*")
	if err != nil {
		return nil, 0, err
	}
	n, err := io.Copy(f, r)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	return f, n, nil
}

// isGzip checks the magic and the deflate method byte, which makes a
// chance match in other data (a log line, a random layer) unlikely.
func isGzip(head []byte) bool {
	return len(head) >= 3 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 8
}

// isTar recognises a ustar or GNU header by its magic and checksum, so text
// that happens to contain "ustar" at byte 257 is still searched as text.
// Pre-POSIX tar files have no magic; their contents are stored raw, so
// searching them as bytes still finds a value in them.
func isTar(head []byte) bool {
	if len(head) < 512 || !bytes.Equal(head[257:262], []byte("ustar")) {
		return false
	}
	field := bytes.TrimRight(bytes.TrimLeft(head[148:156], " "), " \x00")
	want, err := strconv.ParseUint(string(field), 8, 64)
	if err != nil {
		return false
	}
	var sum uint64
	for i, b := range head[:512] {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += uint64(b)
	}
	return sum == want
}

func isZip(head []byte) bool {
	return bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06"))
}
