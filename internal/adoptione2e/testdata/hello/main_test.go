package main

import "testing"

func TestGreeting(t *testing.T) {
	if got := greeting(""); got != "hello, world\n" {
		t.Errorf("greeting() = %q", got)
	}
	if got := greeting("team"); got != "hello, team\n" {
		t.Errorf("greeting(team) = %q", got)
	}
}
