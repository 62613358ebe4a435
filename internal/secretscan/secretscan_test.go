package secretscan_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/secretscan"
)

// secret has the characters that JSON, URLs and shells treat specially, so
// each encoding differs from the raw value.
const secret = `sl1pway S3cret/"q"&<x>+y=z~`

// plain has none: most encodings collapse to the raw bytes.
const plain = "slipwayTopSecretValue42"

func newScanner(t testing.TB, values ...string) *secretscan.Scanner {
	t.Helper()
	s, err := secretscan.New(values...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jsonString(v string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(map[string]string{"token": v}); err != nil {
		panic(err)
	}
	return b.String()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// changed is v with its middle byte altered: close to a leak, but not one.
func changed(v string) string {
	b := []byte(v)
	b[len(b)/2] ^= 0x01
	return string(b)
}

func TestNewRejects(t *testing.T) {
	for _, values := range [][]string{nil, {""}, {"short"}, {plain, "1234567"}} {
		if s, err := secretscan.New(values...); err == nil {
			t.Errorf("New(%q) = %v, want an error", values, s)
		}
	}
	if _, err := secretscan.New(plain, plain, "12345678"); err != nil {
		t.Errorf("New with a duplicate and an 8-byte value: %v", err)
	}
}

func TestEncodings(t *testing.T) {
	docker := base64.StdEncoding.EncodeToString([]byte("ci-user:" + secret))
	dsse := base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicate":` + strings.TrimSpace(jsonString(secret, true)) + "}"))
	for _, tc := range []struct {
		name  string
		value string
		input string
		want  string // encoding of the finding; "" for none
	}{
		{"raw in a log line", secret, "12:00:01 deploy: using " + secret + " for the registry\n", secretscan.Raw},
		{"json", secret, jsonString(secret, true), secretscan.JSON},
		{"json without HTML escaping", secret, jsonString(secret, false), secretscan.JSON},
		{"query string", secret, "GET https://example.com/hook?token=" + url.QueryEscape(secret) + "&x=1", secretscan.URL},
		{"url path", secret, "https://example.com/t/" + url.PathEscape(secret) + "/x", secretscan.URL},
		{"hex", secret, "dump: " + hex.EncodeToString([]byte(secret)), secretscan.Hex},
		{"HEX", secret, "DUMP " + strings.ToUpper(hex.EncodeToString([]byte(secret))), secretscan.Hex},
		{"base64", secret, base64.StdEncoding.EncodeToString([]byte(secret)), secretscan.Base64},
		{"base64 of echo output", secret, base64.StdEncoding.EncodeToString([]byte(secret + "\n")), secretscan.Base64},
		{"base64 inside a docker auth", secret, `{"auths":{"r":{"auth":"` + docker + `"}}}`, secretscan.Base64},
		{"base64url", secret, base64.RawURLEncoding.EncodeToString([]byte("xy" + secret)), secretscan.Base64URL},
		{"base64 of JSON (DSSE payload)", secret, `{"payloadType":"application/vnd.in-toto+json","payload":"` + dsse + `"}`, secretscan.Base64JSON},
		{"gzipped log", secret, string(gz([]byte("line\n" + secret + "\n"))), secretscan.Raw},
		{"plain value in JSON is raw", plain, jsonString(plain, true), secretscan.Raw},
		{"plain value in base64", plain, base64.URLEncoding.EncodeToString([]byte("a" + plain)), secretscan.Base64},

		{"base64 wrapped at 76 columns", secret, wrap(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("config line\n", 5)+secret)), 76, "\n"), secretscan.Base64},
		{"base64 in an indented YAML block", secret, "data: |\n" + wrap(base64.StdEncoding.EncodeToString([]byte("k: "+secret+"\n")), 16, "\r\n    "), secretscan.Base64},
		{"clean log", secret, "12:00:01 deploy: using env://REGISTRY_PASSWORD\n", ""},
		{"one byte changed, raw", secret, "x " + changed(secret) + " y", ""},
		{"one byte changed, json", secret, jsonString(changed(secret), true), ""},
		{"one byte changed, url", secret, url.QueryEscape(changed(secret)), ""},
		{"one byte changed, hex", secret, hex.EncodeToString([]byte(changed(secret))), ""},
		{"one byte changed, base64", secret, base64.StdEncoding.EncodeToString([]byte("ab" + changed(secret))), ""},
		{"masked by the CI", secret, "using [MASKED] and ***", ""},
		{"gzipped clean log", secret, string(gz([]byte("nothing to see\n"))), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScanner(t, tc.value)
			found, err := s.Bytes("in.txt", []byte(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(found) != 0 {
					t.Fatalf("found %v in a clean input", found)
				}
				return
			}
			if len(found) == 0 {
				t.Fatalf("no finding, want one %s", tc.want)
			}
			for _, f := range found {
				if f.Encoding != tc.want || f.Where != "in.txt" || f.Value != 0 {
					t.Errorf("finding %v, want %s in in.txt", f, tc.want)
				}
			}
		})
	}
}

// TestBase64Alignment embeds the value at every position of a 3-byte group
// inside a larger base64 text, in both alphabets, padded or not.
func TestBase64Alignment(t *testing.T) {
	for _, v := range []string{secret, plain, "12345678"} {
		s := newScanner(t, v)
		for pre := 0; pre < 6; pre++ {
			for post := 0; post < 3; post++ {
				data := []byte(strings.Repeat("P", pre) + v + strings.Repeat("Q", post))
				for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
					text := "Authorization: Basic " + enc.EncodeToString(data) + "\n"
					found, err := s.Bytes("h", []byte(text))
					if err != nil {
						t.Fatal(err)
					}
					if len(found) == 0 {
						t.Errorf("%q with %d bytes before and %d after: base64 %q not found", v, pre, post, text)
					}
					for _, f := range found {
						if f.Encoding != secretscan.Base64 && f.Encoding != secretscan.Base64URL {
							t.Errorf("%q at %d: finding %v, want base64", v, pre, f)
						}
					}
				}
			}
		}
	}
}

// TestWindowBoundary puts the value at every offset around read boundaries:
// each is found exactly once, at the right offset.
func TestWindowBoundary(t *testing.T) {
	for _, chunk := range []int{1, 7, 64} {
		s := secretscan.WithChunk(newScanner(t, secret), chunk)
		for at := 0; at < 3*chunk+len(secret); at++ {
			data := strings.Repeat(".", at) + secret + strings.Repeat(".", 2*chunk)
			found, err := s.Reader("stream", strings.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 || found[0].Offset != int64(at) || found[0].Encoding != secretscan.Raw {
				t.Fatalf("chunk %d, value at %d: found %v, want one raw finding at %d", chunk, at, found, at)
			}
		}
		// Two adjacent copies and one at the very end: three findings.
		data := "..." + secret + secret + strings.Repeat(".", chunk) + secret
		found, err := s.Reader("stream", strings.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var offsets []int64
		for _, f := range found {
			offsets = append(offsets, f.Offset)
		}
		want := []int64{3, int64(3 + len(secret)), int64(3 + 2*len(secret) + chunk)}
		if !slices.Equal(offsets, want) {
			t.Errorf("chunk %d: offsets %v, want %v", chunk, offsets, want)
		}
	}
}

// wrap breaks s every n bytes with sep, as base64(1) and PEM do.
func wrap(s string, n int, sep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

// TestWrappedBase64 breaks the base64 text at every position, across read
// boundaries: the value is found, at the offset of its first character.
func TestWrappedBase64(t *testing.T) {
	enc := base64.RawStdEncoding.EncodeToString([]byte(secret))
	for _, chunk := range []int{5, 64 << 10} {
		s := secretscan.WithChunk(newScanner(t, secret), chunk)
		for at := 0; at < 2*chunk && at < 40; at++ {
			for k := 1; k < len(enc); k++ {
				// Lines before it: whitespace long gone from the window
				// still counts in the offset.
				data := strings.Repeat("a b\n", 50) + strings.Repeat(".", at) + " \n" + enc[:k] + "\r\n  " + enc[k:] + "\n...."
				want := int64(200 + at + 2)
				found, err := s.Reader("w", strings.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				if len(found) != 1 || found[0].Offset != want || found[0].Encoding != secretscan.Base64 {
					t.Fatalf("chunk %d, at %d, break after %d: found %v, want one base64 finding at %d", chunk, at, k, found, want)
				}
			}
		}
	}
	// Whitespace in the middle of the raw value does not make a raw leak.
	s := newScanner(t, plain)
	if found, _ := s.Bytes("w", []byte(plain[:5]+"\n"+plain[5:])); len(found) != 0 {
		t.Errorf("raw value with a line break: %v", found)
	}
}

// TestLargeStream hides the value across the default 64 KiB read boundary
// and at the end of a few megabytes of random text.
func TestLargeStream(t *testing.T) {
	s := newScanner(t, secret, plain)
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = "abcdefghijklmnopqrstuvwxyz0123456789 \n"[r.IntN(38)]
	}
	found, err := s.Bytes("big.log", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 0 {
		t.Fatalf("random text: %v", found)
	}
	at1 := 64<<10 - 5
	copy(data[at1:], secret)
	at2 := len(data) - len(plain)
	copy(data[at2:], plain)
	found, err = s.Reader("big.log", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].Offset != int64(at1) || found[0].Value != 0 || found[1].Offset != int64(at2) || found[1].Value != 1 {
		t.Fatalf("found %v, want secret 0 at %d and secret 1 at %d", found, at1, at2)
	}
}

// TestNeverPrintsTheSecret checks findings, their error and the errors of
// failed scans for the value and its encodings.
func TestNeverPrintsTheSecret(t *testing.T) {
	s := newScanner(t, secret)
	found, err := s.Bytes("dir/"+secret+"/x.log", []byte("a "+secret+" b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 {
		t.Fatalf("found %v, want 1", found)
	}
	printed := fmt.Sprint(found) + found.Err().Error() + fmt.Sprintf("%+v %#v", found[0], found[0])
	for _, leak := range []string{secret, url.QueryEscape(secret), base64.RawStdEncoding.EncodeToString([]byte(secret))[:12], `S3cret`} {
		if strings.Contains(printed, leak) {
			t.Errorf("the report shows %q: %s", leak, printed)
		}
	}
	if !strings.Contains(printed, "dir/<redacted>/x.log") || !strings.Contains(printed, secretscan.Mask(secret)) {
		t.Errorf("report %s: want the redacted place and the preview %s", printed, secretscan.Mask(secret))
	}
	if got := secretscan.Mask(secret); got != "sl***z~" {
		t.Errorf("Mask = %q", got)
	}
	if got := secretscan.Mask("abcdefgh"); got != "a***h" {
		t.Errorf("Mask(8 bytes) = %q", got)
	}

	_, err = s.Bytes(secret+".gz", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3})
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "<redacted>.gz") {
		t.Errorf("corrupt gzip: error %v, want one naming the redacted place", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("corrupt gzip: error %v does not wrap io.ErrUnexpectedEOF", err)
	}
	// The wrapped error quotes the path too: it is redacted as well.
	_, err = s.File(filepath.Join(t.TempDir(), secret))
	if err == nil || strings.Contains(err.Error(), secret) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want a redacted fs.ErrNotExist", err)
	}
	if (secretscan.Findings{}).Err() != nil {
		t.Error("no findings: Err() != nil")
	}
}

func BenchmarkReader(b *testing.B) {
	s := newScanner(b, secret, plain)
	data := bytes.Repeat([]byte("2026-11-26T19:00:00Z build: step 3/9 RUN go build ./... (cached)\n"), 1<<18)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		found, err := s.Reader("log", bytes.NewReader(data))
		if err != nil || len(found) != 0 {
			b.Fatal(found, err)
		}
	}
}
