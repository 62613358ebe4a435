package mirror

import (
	"net/http"
)

// GoProxy serves a Go module cache's download directory
// ($GOMODCACHE/cache/download) with the GOPROXY protocol, which is exactly
// that directory's layout. Containers that build Dagger modules use it
// because they cannot reach the public proxy; what they need must already
// be in the host's module cache.
func GoProxy(downloadDir string) http.Handler {
	return http.FileServer(http.Dir(downloadDir))
}
