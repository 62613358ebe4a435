// Command imported imports golang.org/x/text/language at v0.3.7, the
// version with GO-2022-1059, but never calls a vulnerable function: it
// only names a tag.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() {
	fmt.Println(language.English == language.Und)
}
