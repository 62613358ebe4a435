package mirror

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestResumedBlobDownload: containerd resumes an interrupted layer
// download with an open-ended Range ("bytes=N-"); the registry answers
// with the rest of the blob, as it does for "bytes=N-M".
func TestResumedBlobDownload(t *testing.T) {
	host, stop := startRegistry(t, t.TempDir(), t.TempDir())
	defer stop()
	img, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := mustRef(t, host+"/library/app:1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	digest, _ := layers[0].Digest()
	rc, _ := layers[0].Compressed()
	whole, _ := io.ReadAll(rc)
	rc.Close()
	url := fmt.Sprintf("http://%s/v2/library/app/blobs/%s", host, digest)

	for _, tc := range []struct {
		rng  string
		want []byte
	}{
		{"bytes=100-", whole[100:]},
		{"bytes=0-", whole},
		{fmt.Sprintf("bytes=10-%d", len(whole)-1), whole[10:]},
	} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Range", tc.rng)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, tc.want) {
			t.Errorf("Range %s: %s, %d bytes, want 206 and %d bytes (%s)", tc.rng, resp.Status, len(body), len(tc.want), body[:min(len(body), 80)])
		}
	}
	// A blob the registry lacks is still the inner registry's answer.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/library/app/blobs/sha256:%064d", host, 0), nil)
	req.Header.Set("Range", "bytes=5-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing blob with a Range: %s, want 404", resp.Status)
	}
}
