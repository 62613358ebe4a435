// A trivial Dagger module: one function that returns a string. Its first
// load on a fresh engine is the baseline BenchmarkColdModuleLoad is compared
// with: what every Go module pays (the Go SDK's image, codegen, the SDK's
// own dependencies compiled once), before anything slipway adds.
package main

// Trivial is the module's main object.
type Trivial struct{}

// Hello returns a string.
func (m *Trivial) Hello() string { return "hello" }
