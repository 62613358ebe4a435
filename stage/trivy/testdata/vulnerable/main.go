// Command vulnerable is the trivy test's planted fault: it links
// golang.org/x/text v0.3.5, which has CVE-2021-38561 and CVE-2022-32149.
package main

import (
	"fmt"

	"golang.org/x/text/language"
)

func main() { fmt.Println(language.MustParse("en-US")) }
