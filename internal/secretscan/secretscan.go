// Package secretscan proves that known secret values did not leak: a test
// runs a pipeline with a secret it chose, then searches everything the run
// left behind (logs, generated files, reports, CI artifacts, every layer,
// config and referrer of the images it pushed) for that value and fails on
// any finding.
//
// A leak rarely keeps the value's raw bytes: a tool may log it inside JSON,
// put it in a URL, hex-dump it or base64 it into an auth header or a Docker
// config. A Scanner therefore searches for each value in every encoding in
// Encodings, including base64 at the three alignments a value can have
// inside a larger base64 text, wrapped over lines or indented. It looks inside archives (tar, gzip, zip, to
// any depth up to a limit) and searches file and entry names as well as
// contents.
//
// Everything is streamed with a sliding window: a match that straddles two
// reads is found, and an image is never held in memory. Findings never
// contain a secret: they name the place, the encoding and a masked preview
// of the value (for example "sl***ry"), and places whose names contain a
// secret are redacted.
//
// Bytes, Reader, File and Dir search logs, generated files, reports and CI
// artifacts; Image, Repository and Registry search what a run pushed. A
// leak test runs the pipeline with a value it chose, then:
//
//	s, err := secretscan.New(secret)
//	...
//	files, err := s.Dir(workdir, secretscan.Skip(".git"))
//	...
//	images, err := s.Registry(ctx, registry)
//	...
//	if err := append(files, images...).Err(); err != nil {
//		t.Fatal(err)
//	}
package secretscan

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// MinLength is the shortest secret value New accepts. Shorter values would
// be found by chance in random data (layers, digests, compressed blobs), and
// their shifted base64 forms lose up to two bytes on each side.
const MinLength = 8

// Encoding names, as they appear in Finding.Encoding.
const (
	Raw       = "raw"
	JSON      = "json-escaped"
	URL       = "url-encoded"
	Hex       = "hex"
	Base64    = "base64"
	Base64URL = "base64url"
	// Base64JSON and Base64URLJSON are base64 of the JSON-escaped value:
	// a JSON document that was then base64-encoded, as in DSSE envelopes
	// (in-toto attestations), Kubernetes Secrets and Docker configs.
	Base64JSON    = "base64(json-escaped)"
	Base64URLJSON = "base64url(json-escaped)"
)

// Encodings lists every encoding a Scanner searches for. When two give the
// same bytes (a value without special characters is its own JSON escape),
// findings name the first one in this order.
var Encodings = []string{Raw, JSON, URL, Hex, Base64, Base64JSON, Base64URL, Base64URLJSON}

// chunkSize is what each read adds to the sliding window, after the longest
// needle minus one byte kept from the previous read.
const chunkSize = 64 << 10

// maxDepth bounds archives inside archives, so a crafted or self-similar
// file cannot recurse for ever; deeper content is still searched as bytes.
const maxDepth = 16

// Scanner searches for a fixed set of secret values. It is immutable and
// safe for concurrent use.
type Scanner struct {
	values  []string
	needles []needle // all of them, for names and small blobs
	// Streams search text needles in the bytes as read and base64 ones
	// in the same bytes without whitespace, see stream.
	text, base64 []needle
	longest      int
	chunk        int
}

type needle struct {
	b        []byte
	value    int // index in values
	encoding string
}

// New returns a Scanner for the given secret values. Every value must be at
// least MinLength bytes long; duplicates are ignored.
func New(values ...string) (*Scanner, error) {
	if len(values) == 0 {
		return nil, errors.New("secretscan: no secret values to search for")
	}
	s := &Scanner{chunk: chunkSize}
	seenValue := map[string]bool{}
	seenNeedle := map[string]bool{}
	for i, v := range values {
		if len(v) < MinLength {
			return nil, fmt.Errorf("secretscan: value %d is %d bytes long, shorter than %d: it would match random data", i, len(v), MinLength)
		}
		if seenValue[v] {
			continue
		}
		seenValue[v] = true
		idx := len(s.values)
		s.values = append(s.values, v)
		for _, e := range encode(v) {
			if seenNeedle[string(e.b)] {
				continue
			}
			seenNeedle[string(e.b)] = true
			e.value = idx
			s.needles = append(s.needles, e)
			if isBase64(e.encoding) {
				s.base64 = append(s.base64, e)
			} else {
				s.text = append(s.text, e)
			}
			s.longest = max(s.longest, len(e.b))
		}
	}
	return s, nil
}

// encode returns the byte strings that betray v in each encoding, in
// Encodings order.
func encode(v string) []needle {
	var out []needle
	add := func(enc string, s string) {
		if s != "" {
			out = append(out, needle{b: []byte(s), encoding: enc})
		}
	}
	add(Raw, v)
	// encoding/json escapes <, > and & unless told not to; other encoders
	// (jq, Python) do not: search for both.
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(v) // a string always encodes
		q := strings.TrimSuffix(b.String(), "\n")
		add(JSON, q[1:len(q)-1])
	}
	add(URL, url.QueryEscape(v))
	add(URL, url.PathEscape(v))
	add(Hex, hex.EncodeToString([]byte(v)))
	add(Hex, strings.ToUpper(hex.EncodeToString([]byte(v))))
	// Base64 of the raw value and of its JSON escapes; the JSON forms are
	// the same as raw for most values and are then dropped as duplicates.
	jsonForms := []string{}
	for _, n := range out {
		if n.encoding == JSON {
			jsonForms = append(jsonForms, string(n.b))
		}
	}
	for _, e := range []struct {
		raw, json string
		enc       *base64.Encoding
	}{{Base64, Base64JSON, base64.RawStdEncoding}, {Base64URL, Base64URLJSON, base64.RawURLEncoding}} {
		for _, b := range base64Forms(e.enc, []byte(v)) {
			add(e.raw, b)
		}
		for _, j := range jsonForms {
			for _, b := range base64Forms(e.enc, []byte(j)) {
				add(e.json, b)
			}
		}
	}
	return out
}

// base64Forms returns the base64 text that v produces wherever it sits in a
// larger encoded input. Base64 encodes 3-byte groups, so v starts at one of
// three offsets within a group, and only the characters of groups made of v
// alone are determined by v: for skip 0, 1 or 2 leading bytes, the encoding
// of the whole groups that follow, without the partial characters at either
// edge. Skip 0 is also a prefix of base64(v) itself, padded or followed by a
// newline.
func base64Forms(enc *base64.Encoding, v []byte) []string {
	var out []string
	for skip := 0; skip < 3; skip++ {
		rest := v[skip:]
		whole := rest[:len(rest)/3*3]
		if len(whole) == 0 {
			continue
		}
		out = append(out, enc.EncodeToString(whole))
	}
	return out
}

// Mask returns a preview of a secret that identifies which one was found
// without revealing it: its first and last characters around "***" (two of
// each for values of 16 bytes or more, one for shorter ones).
func Mask(v string) string {
	n := 1
	if len(v) >= 16 {
		n = 2
	}
	if len(v) < 2*n+1 {
		return "***"
	}
	return v[:n] + "***" + v[len(v)-n:]
}

// Finding is one place where a secret value was found.
type Finding struct {
	// Where names the place: a file path, an archive member
	// ("out/artifacts.zip!/reports/junit.xml"), a file's name
	// ("... (name)"), or a part of an image
	// ("registry/repo@sha256:... layer sha256:...!/etc/app.conf").
	// Parts of it that contain a secret are replaced by "<redacted>".
	Where string
	// Encoding is one of Encodings.
	Encoding string
	// Offset is the byte offset of the match in the decoded content of
	// Where (after gunzip or extraction from an archive).
	Offset int64
	// Value is the index of the secret in the values given to New.
	Value int
	// Preview is the masked secret, see Mask.
	Preview string
}

// String describes the finding without revealing the secret.
func (f Finding) String() string {
	return fmt.Sprintf("%s: secret %d (%s) %s at byte %d", f.Where, f.Value, f.Preview, f.Encoding, f.Offset)
}

// Findings is the result of a search.
type Findings []Finding

// Err returns nil when nothing was found, or an error that lists every
// finding (the first 50, and how many more), to fail a test with.
func (fs Findings) Err() error {
	if len(fs) == 0 {
		return nil
	}
	const shown = 50
	var b strings.Builder
	fmt.Fprintf(&b, "secretscan: %d leak(s) of secret values found:", len(fs))
	for i, f := range fs {
		if i == shown {
			fmt.Fprintf(&b, "\n  ... and %d more", len(fs)-shown)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(f.String())
	}
	return errors.New(b.String())
}

// sorted orders findings by place, then offset, so results are stable.
func (fs Findings) sorted() Findings {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Where != fs[j].Where {
			return fs[i].Where < fs[j].Where
		}
		return fs[i].Offset < fs[j].Offset
	})
	return fs
}

// Bytes searches b, named where, and inside it if it is an archive.
func (s *Scanner) Bytes(where string, b []byte) (Findings, error) {
	var out Findings
	err := s.content(where, bytes.NewReader(b), bytes.NewReader(b), int64(len(b)), 0, &out)
	return out.sorted(), err
}

// Reader searches everything r yields, named where, and inside it if it is
// an archive. A zip archive read from a Reader is spooled to a temporary
// file, because its directory is at its end.
func (s *Scanner) Reader(where string, r io.Reader) (Findings, error) {
	var out Findings
	err := s.content(where, r, nil, 0, 0, &out)
	return out.sorted(), err
}

// redact replaces every needle in a place name so findings and errors never
// print a secret, even when it is part of a file name.
func (s *Scanner) redact(where string) string {
	for _, n := range s.needles {
		if strings.Contains(where, string(n.b)) {
			where = strings.ReplaceAll(where, string(n.b), "<redacted>")
		}
	}
	return where
}

// errorf formats an error about a place, redacted as a whole: the wrapped
// error may quote a name or a URL that holds a secret too.
func (s *Scanner) errorf(where string, format string, a ...any) error {
	err := fmt.Errorf("secretscan: %s: "+format, append([]any{where}, a...)...)
	return &redactedError{msg: s.redact(err.Error()), err: errors.Unwrap(err)}
}

// redactedError keeps the wrapped error for errors.Is and errors.As but
// prints only the redacted message.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// name searches a short string that is not content: a file or entry name,
// a link target, a PAX record.
func (s *Scanner) name(where, what, text string, out *Findings) {
	s.match(where+" ("+what+")", []byte(text), 0, 0, out)
}

// stream searches r with a sliding window of the longest needle minus one
// byte, so a match cut by a read boundary is still found exactly once.
//
// Base64 needles are searched in a second window that holds the same
// bytes without whitespace, because encoders wrap base64 (base64(1) at 76
// columns, PEM at 64) and YAML and pretty JSON indent it; offsets found
// there are mapped back to the content's.
func (s *Scanner) stream(where string, r io.Reader, out *Findings) error {
	overlap := s.longest - 1
	bufs := getWindows(overlap + s.chunk)
	defer windows.Put(bufs)
	buf := bufs.text
	kept := 0
	var base int64
	w := squeezed{buf: bufs.squeezed[:0], gaps: bufs.gaps[:0]}
	defer func() { bufs.squeezed, bufs.gaps = w.buf, w.gaps }()
	for {
		// Fill the window. Not io.ReadFull: it would turn a truncated
		// gzip stream's io.ErrUnexpectedEOF into a clean end.
		n := kept
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = r.Read(buf[n:])
			n += m
		}
		data := buf[:n]
		s.find(where, s.text, data, kept, func(p int) int64 { return base + int64(p) }, out)
		w.add(data[kept:])
		s.find(where, s.base64, w.buf, w.kept, w.offset, out)
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return s.errorf(where, "reading: %w", err)
		}
		keep := min(overlap, len(data))
		copy(buf, data[len(data)-keep:])
		base += int64(len(data) - keep)
		kept = keep
		w.slide(overlap)
	}
}

// windowBufs are a stream's buffers, reused: a layer can hold thousands
// of small files, each searched as a stream.
type windowBufs struct {
	text, squeezed []byte
	gaps           []int64
}

var windows sync.Pool

func getWindows(size int) *windowBufs {
	if b, ok := windows.Get().(*windowBufs); ok && len(b.text) == size {
		return b
	}
	return &windowBufs{text: make([]byte, size), squeezed: make([]byte, 0, size)}
}

// squeezed is a sliding window over content with whitespace removed.
type squeezed struct {
	buf  []byte
	kept int   // bytes of buf the previous search saw
	base int64 // position of buf[0] in the squeezed content
	// gaps holds, for each whitespace byte removed at or after base, the
	// squeezed position it preceded; before counts those removed earlier.
	gaps   []int64
	before int64
}

// space marks the bytes squeezed out: what wrapping and indenting insert.
var space = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (w *squeezed) add(b []byte) {
	start := 0
	for i, c := range b {
		if space[c] {
			w.buf = append(w.buf, b[start:i]...)
			w.gaps = append(w.gaps, w.base+int64(len(w.buf)))
			start = i + 1
		}
	}
	w.buf = append(w.buf, b[start:]...)
}

// offset maps a position in buf to the content's offset: itself plus the
// whitespace removed before it.
func (w *squeezed) offset(p int) int64 {
	q := w.base + int64(p)
	n := sort.Search(len(w.gaps), func(i int) bool { return w.gaps[i] > q })
	return q + w.before + int64(n)
}

func (w *squeezed) slide(overlap int) {
	keep := min(overlap, len(w.buf))
	drop := len(w.buf) - keep
	copy(w.buf, w.buf[drop:])
	w.buf = w.buf[:keep]
	w.base += int64(drop)
	w.kept = keep
	// A gap before base only counts for offsets from now on.
	n := sort.Search(len(w.gaps), func(i int) bool { return w.gaps[i] >= w.base })
	w.before += int64(n)
	w.gaps = append(w.gaps[:0], w.gaps[n:]...)
}

// match searches data for every needle; base is the offset of data[0] in
// the content. See find for old.
func (s *Scanner) match(where string, data []byte, old int, base int64, out *Findings) {
	s.find(where, s.needles, data, old, func(p int) int64 { return base + int64(p) }, out)
}

// find records every needle in data that was not wholly inside the first
// old bytes (which the previous window already searched); at maps a
// position in data to the offset in the content.
func (s *Scanner) find(where string, needles []needle, data []byte, old int, at func(int) int64, out *Findings) {
	for _, n := range needles {
		i := max(0, old-len(n.b)+1)
		for i+len(n.b) <= len(data) {
			j := bytes.Index(data[i:], n.b)
			if j < 0 {
				break
			}
			p := i + j
			*out = append(*out, Finding{
				Where:    s.redact(where),
				Encoding: n.encoding,
				Offset:   at(p),
				Value:    n.value,
				Preview:  Mask(s.values[n.value]),
			})
			i = p + 1
		}
	}
}

func isBase64(encoding string) bool {
	return strings.HasPrefix(encoding, Base64)
}
