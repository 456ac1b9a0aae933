package testenv_test

import (
	"net"
	"os"
	"testing"

	"github.com/setlet/setlet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestContainerdAndImage starts the private containerd and builds the image.
func TestContainerdAndImage(t *testing.T) {
	addr := testenv.Containerd(t)
	c, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	c.Close()
	if again := testenv.Containerd(t); again != addr {
		t.Errorf("second call started another containerd: %s != %s", again, addr)
	}
	img := testenv.BusyboxImage(t)
	if fi, err := os.Stat(img); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("image %s: %v", img, err)
	}
}
