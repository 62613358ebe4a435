// Command finding is gosec's test fixture: the planted fault is a weak hash
// (G401 with G501) that gosec must report.
package main

import (
	"crypto/md5"
	"fmt"
	"os"
)

func main() {
	fmt.Printf("%x\n", md5.Sum([]byte(os.Args[0])))
}
