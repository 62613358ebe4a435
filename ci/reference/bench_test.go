package reference

import "testing"

// BenchmarkGenerateReference parses the module's functions, builds and
// validates the reference pipeline and generates both CI files: all that
// `make generate` does after compiling.
func BenchmarkGenerateReference(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Files(); err != nil {
			b.Fatal(err)
		}
	}
}
