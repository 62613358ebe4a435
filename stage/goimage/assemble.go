package goimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"dagger.io/dagger"
)

// assemble makes the image as an OCI layout and imports it into Dagger.
//
// Why not From(base).WithFile(...): Dagger's exporter stamps the config's
// created time, the history and the parent directories of new files with
// the clock, so every rebuild gets a new digest. Here the binary's layer is
// written by tar with sorted entries, a fixed mtime and numeric owners, and
// the config and manifest are written from the base's, with the created
// time the caller gave: the same inputs give the same bytes. Dagger keeps
// an imported image's config, history and layer blobs when it publishes.
func assemble(ctx context.Context, client *dagger.Client, c config, p dagger.Platform, bins map[string]*dagger.File, files []dataFile, labels map[string]string) (*dagger.Container, error) {
	epoch := strconv.FormatInt(c.created.Unix(), 10)
	var base *dagger.File
	if c.base != "" {
		base = client.Container(dagger.ContainerOpts{Platform: p}).From(c.base).
			AsTarball(dagger.ContainerAsTarballOpts{MediaTypes: dagger.ImageMediaTypesOcimediaTypes})
	}
	// The tool container runs on the engine's own platform; only files
	// pass through it.
	asm := client.Container().From(c.GoImageOr(DefaultBuilder))
	if base != nil {
		asm = asm.WithMountedFile("/base.tar", base)
	}
	for _, name := range sortedKeys(bins) {
		asm = asm.WithFile("/rootfs"+BinDir+"/"+name, bins[name], dagger.ContainerWithFileOpts{Permissions: 0o755})
	}
	for _, f := range files {
		if f.dir != nil {
			asm = asm.WithDirectory("/rootfs"+f.to, f.dir)
		} else {
			asm = asm.WithFile("/rootfs"+f.to, f.file)
		}
	}
	asm = asm.WithEnvVariable("EPOCH", epoch).
		WithExec([]string{"sh", "-euc", asmScript})
	sums, err := asm.File("/layer.sums").Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("writing the binary's layer: %w", err)
	}
	diffID, blobDigest, size, err := parseSums(sums)
	if err != nil {
		return nil, err
	}

	// The base's config and manifest (or empty ones for scratch).
	cfg := map[string]any{}
	var layers []any
	var history []any
	diffIDs := []any{}
	if base != nil {
		idx, err := readJSON(ctx, asm, "/layout/index.json")
		if err != nil {
			return nil, err
		}
		mans, _ := idx["manifests"].([]any)
		if len(mans) != 1 {
			return nil, fmt.Errorf("base image %s: %d manifests in its layout, want 1", c.base, len(mans))
		}
		man, err := readJSON(ctx, asm, blobPath(mans[0].(map[string]any)["digest"].(string)))
		if err != nil {
			return nil, err
		}
		layers, _ = man["layers"].([]any)
		cfgDigest, _ := man["config"].(map[string]any)["digest"].(string)
		if cfg, err = readJSON(ctx, asm, blobPath(cfgDigest)); err != nil {
			return nil, err
		}
		history, _ = cfg["history"].([]any)
		if rootfs, ok := cfg["rootfs"].(map[string]any); ok {
			diffIDs, _ = rootfs["diff_ids"].([]any)
		}
	} else {
		goos, goarch, _ := strings.Cut(string(p), "/")
		goarch, variant, _ := strings.Cut(goarch, "/")
		cfg["os"], cfg["architecture"] = goos, goarch
		if variant != "" {
			cfg["variant"] = variant
		}
	}
	created := c.created.Format(time.RFC3339)
	inner, _ := cfg["config"].(map[string]any)
	if inner == nil {
		inner = map[string]any{}
	}
	inner["User"] = c.user
	entrypoint := c.entrypoint
	if len(entrypoint) == 0 {
		entrypoint = []string{path.Join(BinDir, c.binaries[0].name)}
	}
	inner["Entrypoint"] = entrypoint
	delete(inner, "Cmd")
	if len(c.args) > 0 {
		inner["Cmd"] = c.args
	}
	lbl, _ := inner["Labels"].(map[string]any)
	if lbl == nil {
		lbl = map[string]any{}
	}
	for k, v := range labels {
		lbl[k] = v
	}
	inner["Labels"] = lbl
	if len(c.ports) > 0 {
		ports := map[string]any{}
		for _, port := range c.ports {
			ports[fmt.Sprintf("%d/tcp", port)] = map[string]any{}
		}
		inner["ExposedPorts"] = ports
	}
	cfg["config"] = inner
	cfg["created"] = created
	cfg["history"] = append(history, map[string]any{"created": created, "created_by": "slipway goimage: " + strings.Join(sortedKeys(bins), " ")})
	cfg["rootfs"] = map[string]any{"type": "layers", "diff_ids": append(diffIDs, diffID)}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgDigest := digestOf(cfgJSON)

	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	annotations := map[string]string{}
	for _, k := range keys {
		annotations[k] = labels[k]
	}
	man := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfgDigest, "size": len(cfgJSON)},
		"layers": append(layers, map[string]any{
			"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blobDigest, "size": size,
		}),
		"annotations": annotations,
	}
	manJSON, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	index := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digestOf(manJSON), "size": len(manJSON),
		}},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return nil, err
	}
	img := client.Container(dagger.ContainerOpts{Platform: p}).Import(
		asm.WithNewFile(blobPath(cfgDigest), string(cfgJSON)).
			WithNewFile(blobPath(digestOf(manJSON)), string(manJSON)).
			WithNewFile("/layout/index.json", string(indexJSON)).
			WithNewFile("/layout/oci-layout", `{"imageLayoutVersion":"1.0.0"}`).
			WithEnvVariable("BLOB", blobDigest).
			WithExec([]string{"sh", "-euc", packLayout}).
			File("/image.tar"))
	for _, k := range keys {
		img = img.WithAnnotation(k, labels[k])
	}
	return img, nil
}

// asmScript writes the binary's layer reproducibly and records its digests.
const asmScript = `
mkdir -p /layout
if [ -f /base.tar ]; then tar -xf /base.tar -C /layout; fi
# Directories 0755, data files readable by the service's user whatever
# their mode in the source; the binaries keep 0755.
find /rootfs -type d -exec chmod 0755 {} +
find /rootfs -type f ! -path '/rootfs/usr/local/bin/*' -exec chmod a+r,go-w {} +
cd /rootfs
tar --sort=name --mtime=@"$EPOCH" --owner=0 --group=0 --numeric-owner --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -cf /layer.tar $(ls -A | sort)
gzip -n -9 -c /layer.tar > /layer.tar.gz
{ sha256sum /layer.tar /layer.tar.gz; stat -c 'size %s' /layer.tar.gz; } > /layer.sums
`

// packLayout puts the layer blob into the layout and tars it.
const packLayout = `
rm -f /layout/manifest.json
mkdir -p /layout/blobs/sha256
cp /layer.tar.gz /layout/blobs/sha256/"${BLOB#sha256:}"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C /layout -cf /image.tar .
`

// parseSums reads the layer's diff ID, blob digest and size.
func parseSums(s string) (diffID, blob string, size int64, err error) {
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[1] == "/layer.tar":
			diffID = "sha256:" + f[0]
		case len(f) == 2 && f[1] == "/layer.tar.gz":
			blob = "sha256:" + f[0]
		case len(f) == 2 && f[0] == "size":
			size, err = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if diffID == "" || blob == "" || size == 0 || err != nil {
		return "", "", 0, fmt.Errorf("layer digests: unexpected %q (%v)", s, err)
	}
	return diffID, blob, size, nil
}

func readJSON(ctx context.Context, ctr *dagger.Container, file string) (map[string]any, error) {
	raw, err := ctr.File(file).Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the base image's %s: %w", path.Base(file), err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("decoding the base image's %s: %w", path.Base(file), err)
	}
	return m, nil
}

func blobPath(digest string) string {
	return "/layout/blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
