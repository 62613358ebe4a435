// Command hello prints a greeting: the binary the example pipeline builds.
package main

import (
	"fmt"
	"os"

	"github.com/slipway-ci/slipway/examples/external/hello"
)

func main() {
	name := ""
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	fmt.Println(hello.Greeting(name))
}
