// Command service is the SBOM test's service: a small HTTP handler with
// real third-party dependencies, whose image's SBOM must list the modules
// it links with the versions `go list -m all` gives.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"golang.org/x/text/language"
)

func main() {
	g, _ := errgroup.WithContext(context.Background())
	g.Go(func() error {
		return http.ListenAndServe(":8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tag, _ := language.Parse(r.Header.Get("Content-Language"))
			fmt.Fprintln(w, uuid.NewString(), tag)
		}))
	})
	if err := g.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
