// Command clean has nothing for gosec to find.
package main

import "fmt"

func main() { fmt.Println("clean") }
