package network_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/setlet/setlet/network"
)

// TestTeardownReleasesPod proves that Teardown releases the pod's IP and
// removes its namespace, that it is idempotent, and that it succeeds for
// an attachment that never existed.
func TestTeardownReleasesPod(t *testing.T) {
	e := newEnv(t)
	a, b := e.attachment("web-0"), e.attachment("web-1")
	ra := e.setup(a)
	rb := e.setup(b)
	e.requireAllocated(ra.IP, rb.IP)

	e.teardown(a)
	e.requireAllocated(rb.IP)
	if _, err := os.Lstat(ra.NetNS); !os.IsNotExist(err) {
		t.Fatalf("namespace file of web-0 after Teardown: %v", err)
	}
	if pods, _ := e.m.Namespaces(); !slices.Equal(pods, []string{"web-1"}) {
		t.Fatalf("Namespaces() = %v, want [web-1]", pods)
	}
	e.teardown(a)
	e.teardown(b)
	e.teardown(network.Attachment{ID: "never-set-up", Pod: "web-9"})
	e.requireEmpty()
}

// TestTeardownByIDOrByPod proves the two partial forms: with the ID only
// (an attachment found by Attachments) the pod is found in libcni's cache;
// with the pod only (a namespace found by Namespaces) the owner is found
// in its record. Both leave nothing behind.
func TestTeardownByIDOrByPod(t *testing.T) {
	e := newEnv(t)
	a := e.attachment("web-0", network.PortMapping{HostPort: freePort(t), ContainerPort: 80})
	e.setup(a)
	e.teardown(network.Attachment{ID: a.ID})
	e.requireEmpty()

	b := e.attachment("web-1", network.PortMapping{HostPort: freePort(t), ContainerPort: 80})
	e.setup(b)
	e.teardown(network.Attachment{Pod: b.Pod})
	e.requireEmpty()
}

// TestTeardownAfterNetnsRemovedByHand proves that Teardown of a pod whose
// namespace file was unmounted and deleted behind the Manager's back
// still releases its IP and removes its masquerade and port mapping
// rules.
func TestTeardownAfterNetnsRemovedByHand(t *testing.T) {
	e := newEnv(t)
	a := e.attachment("web-0", network.PortMapping{HostPort: freePort(t), ContainerPort: 80})
	r := e.setup(a)
	if err := unix.Unmount(r.NetNS, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(r.NetNS); err != nil {
		t.Fatal(err)
	}
	e.teardown(a)
	e.requireEmpty()
}

// TestAfterReboot simulates a host reboot: /run and the kernel's state
// (namespaces, bridge, iptables rules) are gone, the state on disk
// (host-local's allocations, libcni's cache) is not. Teardown still
// releases the IP and forgets the attachment; Setup of the same
// attachment attaches it again with one IP.
func TestAfterReboot(t *testing.T) {
	e := newEnv(t)
	a := e.attachment("web-0", network.PortMapping{HostPort: freePort(t), ContainerPort: 80})
	reboot := func() {
		t.Helper()
		e.setup(a)
		disk := t.TempDir()
		copyTree(t, e.cfg.DataDir, disk)
		e.teardown(a) // the kernel's state goes away...
		if link, err := netlink.LinkByName(e.cfg.Bridge); err == nil {
			if err := netlink.LinkDel(link); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.RemoveAll(e.cfg.DataDir); err != nil {
			t.Fatal(err)
		}
		copyTree(t, disk, e.cfg.DataDir) // ...and the disk's stays.
		if ids, _ := e.m.Attachments(); !slices.Equal(ids, []string{a.ID}) {
			t.Fatalf("after the simulated reboot Attachments() = %v, want [%s]", ids, a.ID)
		}
	}

	t.Run("teardown", func(t *testing.T) {
		reboot()
		e.teardown(a)
		e.requireEmpty()
	})
	t.Run("setup", func(t *testing.T) {
		reboot()
		r := e.setup(a)
		requireEth0(t, r)
		e.requireAllocated(r.IP)
		e.teardown(a)
		e.requireEmpty()
	})
}

// TestSetupWithEndedContext proves that a Setup whose context has ended
// fails, and that whatever it did is undone by Teardown.
func TestSetupWithEndedContext(t *testing.T) {
	e := newEnv(t)
	a := e.attachment("web-0", network.PortMapping{HostPort: freePort(t), ContainerPort: 80})
	e.track(a)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.m.Setup(ctx, a); err == nil {
		t.Fatal("Setup with an ended context succeeded")
	}
	e.teardown(a)
	e.requireEmpty()
}

// copyTree copies the regular files below src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
