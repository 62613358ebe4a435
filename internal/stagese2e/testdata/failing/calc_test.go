package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(1, 1) != 2 {
		t.Fatal("1+1 != 2")
	}
}

// TestPlantedFailure must fail: test-unit's check must fail and its JUnit
// report must show this test.
func TestPlantedFailure(t *testing.T) {
	t.Errorf("planted failure: %d is not 5", Add(2, 2))
}
