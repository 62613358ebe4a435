// Package calc is the planted-fault fixture of the stage tests.
package calc

// Add adds.
func Add(a, b int) int { return a + b }
