package network

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Network namespaces live on threads. Everything here that enters one does
// so on a goroutine of its own with its OS thread locked, and puts the
// thread back into the namespace it came from before unlocking it. When
// that fails the thread stays locked, and the Go runtime ends it together
// with its goroutine: no other goroutine ever runs on a thread left in the
// wrong namespace. This is what containernetworking/plugins' ns.Do does.

// maxStackedMounts bounds how many mounts removeNetns takes off one file.
const maxStackedMounts = 16

// threadNetns is the path of the calling thread's network namespace.
func threadNetns() string {
	return fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
}

// isNetns reports whether path is a network namespace file: a bind mount
// of an nsfs inode. A missing file, or the empty placeholder left when
// creating a namespace was cut short, is not.
func isNetns(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("inspecting %s: %w", path, err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// ensureNetnsDir creates dir and makes it a shared mount point, as
// `ip netns add` does for /run/netns: when dir is not a mount point yet it
// is bind-mounted onto itself first. Namespace files mounted below it then
// propagate to mount namespaces created later, and so does their removal,
// so that a namespace is freed once the Manager unmounts it even if some
// process unshared its mounts in between. Idempotent.
func ensureNetnsDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for bound := false; ; bound = true {
		err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || bound {
			return fmt.Errorf("making %s a shared mount: %w", dir, err)
		}
		// EINVAL: dir is not a mount point yet.
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s onto itself: %w", dir, err)
		}
	}
}

// createNetns creates a network namespace with its loopback interface up
// and bind-mounts it at path. path must not be a namespace already; an
// empty placeholder file left by an earlier attempt is reused.
func createNetns(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	ns, err := newNetns(func(nsPath string) error {
		if err := loopbackUp(); err != nil {
			return err
		}
		if err := unix.Mount(nsPath, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting the namespace onto %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("creating network namespace %s: %w", path, err)
	}
	if err := ns.Close(); err != nil {
		return fmt.Errorf("creating network namespace %s: %w", path, err)
	}
	ok, err := isNetns(path)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no network namespace is mounted at %s after mounting one: %w", path, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// loopbackUp brings up lo in the calling thread's network namespace.
func loopbackUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

// removeNetns unmounts the namespace file at path and deletes it.
// Idempotent: a file that is not mounted, or not there, is fine.
func removeNetns(path string) error {
	for i := 0; ; i++ {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // not (or no longer) a mount point
		}
		if err != nil {
			return fmt.Errorf("unmounting %s: %w", path, err)
		}
		if i == maxStackedMounts {
			return fmt.Errorf("unmounting %s: still mounted after %d unmounts: %w", path, i+1, errdefs.ErrFailedPrecondition)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}

// newNetns runs setup on a locked OS thread inside a new network
// namespace, and returns an open file of that namespace, which keeps it
// alive until it is closed (unless setup mounted it somewhere). setup gets
// the thread's path of the namespace.
func newNetns(setup func(nsPath string) error) (*os.File, error) {
	type result struct {
		ns  *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(threadNetns())
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("opening the thread's network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("unsharing the network namespace: %w", err)}
			return
		}
		nsPath := threadNetns()
		ns, err := os.Open(nsPath)
		if err == nil {
			if err = setup(nsPath); err != nil {
				ns.Close()
				ns = nil
			}
		} else {
			err = fmt.Errorf("opening the new network namespace: %w", err)
		}
		if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr != nil {
			// The thread stays locked: the runtime ends it with this goroutine.
			if ns != nil {
				ns.Close()
			}
			done <- result{err: errors.Join(err, fmt.Errorf("returning to the original network namespace: %w", rerr))}
			return
		}
		runtime.UnlockOSThread()
		done <- result{ns: ns, err: err}
	}()
	r := <-done
	return r.ns, r.err
}

// withNetns runs fn on a locked OS thread inside the network namespace at
// nsPath, as ns.Do does.
func withNetns(nsPath string, fn func() error) error {
	target, err := os.Open(nsPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("network namespace %s: %w", nsPath, errdefs.ErrNotFound)
		}
		return fmt.Errorf("opening network namespace %s: %w", nsPath, err)
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(threadNetns())
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("opening the thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("entering network namespace %s: %w", nsPath, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked: the runtime ends it with this goroutine.
			done <- errors.Join(ferr, fmt.Errorf("returning from network namespace %s: %w", nsPath, err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// interfaceAddrs returns the addresses of interface name in the network
// namespace at nsPath; an error of class NotFound when the namespace or
// the interface does not exist.
func interfaceAddrs(nsPath, name string) ([]net.IPNet, error) {
	var out []net.IPNet
	err := withNetns(nsPath, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("opening netlink: %w", err)
		}
		defer h.Close()
		link, err := h.LinkByName(name)
		if err != nil {
			var notFound netlink.LinkNotFoundError
			if errors.As(err, &notFound) {
				return fmt.Errorf("interface %s in %s: %w", name, nsPath, errdefs.ErrNotFound)
			}
			return fmt.Errorf("finding interface %s in %s: %w", name, nsPath, err)
		}
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(link, netlink.FAMILY_ALL) })
		if err != nil {
			return fmt.Errorf("listing the addresses of %s in %s: %w", name, nsPath, err)
		}
		for _, a := range addrs {
			out = append(out, *a.IPNet)
		}
		return nil
	})
	return out, err
}

// newStandIn creates a throw-away network namespace holding one end of a
// veth pair named name, which carries addrs. It stands in for a pod's
// namespace that is gone, so that a plugin which finds the pod's addresses
// on its interface at DEL (bridge and ptp do, to remove their masquerade
// rules) can still undo what it set up. Closing the returned file frees
// the namespace; nothing of it outlives the process.
func newStandIn(name string, addrs []net.IPNet) (*os.File, error) {
	ns, err := newNetns(func(string) error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("opening netlink: %w", err)
		}
		defer h.Close()
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "standin0"}
		if err := h.LinkAdd(veth); err != nil {
			return fmt.Errorf("adding veth %s: %w", name, err)
		}
		link, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("finding veth %s: %w", name, err)
		}
		for _, a := range addrs {
			if err := h.AddrAdd(link, &netlink.Addr{IPNet: &a}); err != nil {
				return fmt.Errorf("adding %s to %s: %w", a.String(), name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating a stand-in network namespace: %w", err)
	}
	return ns, nil
}

// procPath is a path other processes (CNI plugins) can open to reach the
// namespace f holds open.
func procPath(f *os.File) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
}

// retryDump runs a netlink dump again when the kernel reports it was
// interrupted by a concurrent change (NLM_F_DUMP_INTR, which netlink
// surfaces as ErrDumpInterrupted along with partial results) or the call
// was interrupted (EINTR).
func retryDump[T any](dump func() (T, error)) (T, error) {
	const attempts = 5
	var (
		v   T
		err error
	)
	for range attempts {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) && !errors.Is(err, unix.EINTR) {
			return v, err
		}
	}
	return v, fmt.Errorf("netlink dump interrupted %d times in a row: %w", attempts, err)
}
