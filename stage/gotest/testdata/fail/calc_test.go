package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(2, 3) != 5 {
		t.Fatal("2+3 != 5")
	}
}

// TestPlantedFailure is the planted fault: the stage must fail and the
// JUnit report must show this test failing.
func TestPlantedFailure(t *testing.T) {
	if Add(2, 2) != 5 {
		t.Errorf("planted failure: 2+2 is not 5")
	}
}
