package testenv

import "testing"

// TestFreeNetworkSkipsLockedNumbers: a number whose lock file another test
// binary holds (here another open file of this one) is not handed out,
// even though no bridge or rule of it exists.
func TestFreeNetworkSkipsLockedNumbers(t *testing.T) {
	RequireRoot(t)
	RequireBinary(t, "iptables", "iptables")
	other, err := lockNetwork("sltenv1")
	if err != nil || other == nil {
		t.Fatalf("locking sltenv1: %v, %v", other, err)
	}
	defer other.Close()
	if again, err := lockNetwork("sltenv1"); err != nil || again != nil {
		t.Fatalf("a second lock of sltenv1: %v, %v; want it refused", again, err)
	}
	if n := FreeNetwork(t, "sltenv", 1, 3); n != 2 {
		t.Fatalf("FreeNetwork = %d, want 2: 1 is locked", n)
	}
}
