// Command clean has no dependency: nothing to find.
package main

func main() { println("clean") }
