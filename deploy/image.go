package deploy

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ParseDigest parses an image reference that names a digest
// (registry/repo@sha256:<hex>, optionally with a tag before the @). A tag
// alone is refused: a tag can move between the test and the deploy, a
// digest cannot.
func ParseDigest(image string) (name.Digest, error) {
	if image == "" {
		return name.Digest{}, fmt.Errorf("no image given: pass the build's IMAGE_REF (registry/repo@sha256:<digest>)")
	}
	if !strings.Contains(image, "@") {
		return name.Digest{}, fmt.Errorf("image %q is a tag, not a digest: slipway deploys exactly the image that was tested and scanned; "+
			"pass it by digest (%s@sha256:<digest>: the build job's IMAGE_REF output, or `crane digest %s`)", image, repoOf(image), image)
	}
	d, err := name.NewDigest(image)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image %q is not a valid digest reference: %w", image, err)
	}
	return d, nil
}

func repoOf(image string) string {
	if t, err := name.NewTag(image); err == nil {
		return t.Repository.Name()
	}
	return image
}
