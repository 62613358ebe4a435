package gotool

import "testing"

// TestReplaces keeps a module's replace directives except those into its
// own directories, which a module zip cannot resolve.
func TestReplaces(t *testing.T) {
	gomod := `module example.com/m

go 1.25.0

require example.com/a v1.0.0

replace (
	github.com/golang/protobuf => github.com/golang/protobuf v1.5.4
	example.com/local => ./local

	k8s.io/api => k8s.io/api v0.34.0
)

replace example.com/up => ../up
replace example.com/one => example.com/one v1.2.3
`
	want := "replace (\n\tgithub.com/golang/protobuf => github.com/golang/protobuf v1.5.4\n\n\tk8s.io/api => k8s.io/api v0.34.0\n)\nreplace example.com/one => example.com/one v1.2.3\n"
	if got := replaces(gomod); got != want {
		t.Fatalf("replaces:\n got: %q\nwant: %q", got, want)
	}
}
