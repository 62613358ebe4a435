package secretscan_test

import (
	"encoding/base64"
	"fmt"

	"github.com/slipway-ci/slipway/internal/secretscan"
)

// A job log where a tool printed a basic-auth header: the value is found
// although it only appears base64-encoded after "ci:", and the report does
// not show it.
func Example() {
	s, err := secretscan.New("registry-password-0042")
	if err != nil {
		panic(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("ci:registry-password-0042"))
	found, err := s.Bytes("job.log", []byte("> GET /v2/ HTTP/1.1\n> Authorization: Basic "+auth+"\n"))
	if err != nil {
		panic(err)
	}
	fmt.Println(found.Err())
	// Output:
	// secretscan: 1 leak(s) of secret values found:
	//   job.log: secret 0 (re***42) base64 at byte 47
}
