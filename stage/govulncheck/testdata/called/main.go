// Command called parses an Accept-Language header with
// golang.org/x/text/language at v0.3.7: GO-2022-1059 (CVE-2022-32149) is
// reachable from main.
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	fmt.Println(preferred(os.Getenv("ACCEPT_LANGUAGE")))
}

func preferred(header string) string {
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return "und"
	}
	return tags[0].String()
}
