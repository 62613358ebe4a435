// Package calc is gotest's test fixture.
package calc

// Add adds.
func Add(a, b int) int { return a + b }

// Sub subtracts; no test covers it.
func Sub(a, b int) int { return a - b }
