// Command hello is the smallest service a team could have: it answers
// /health and /hello on :8080.
package main

import (
	"fmt"
	"log"
	"net/http"
)

// greeting is what /hello answers.
func greeting(name string) string {
	if name == "" {
		name = "world"
	}
	return fmt.Sprintf("hello, %s\n", name)
}

func main() {
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, greeting(r.URL.Query().Get("name"))) })
	log.Fatal(http.ListenAndServe(":8080", nil))
}
