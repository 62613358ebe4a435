// Package hello is the code the external example's pipeline lints, tests
// and builds: a stand-in for a team's own service.
package hello

import "fmt"

// Greeting returns the greeting for name, or for the world when name is
// empty.
func Greeting(name string) string {
	if name == "" {
		name = "world"
	}
	return fmt.Sprintf("Hello, %s!", name)
}
