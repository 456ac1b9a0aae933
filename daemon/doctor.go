package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
	"github.com/setlet/setlet/storage"
)

// The doctor checks the daemon's invariants (DESIGN.md, "Failure model")
// against what is really there, for `setlet doctor`, for the fault-injection
// tests after each restart, and for the test harness after a daemon stops.
// It only reads, and it runs while the daemon works, so it must never take
// a step in progress for a violation. Every change the daemon makes to a
// pod follows one order, which the checks lean on:
//
//	create: pod record → netns + IP (Setup) → container (snapshot first) → "Running" in the record
//	delete: deletion mark or exit in the record → container removed → netns + IP released → record deleted
//
// So it looks at the host twice (before and after) around one read of the
// state file, and reads the pod records again after the second look:
//
//   - Something on the host whose pod incarnation the state file lacks (a
//     container, namespace, IP, cached attachment of an unknown UID) is a
//     leak only when the same object (same ID and owner UID) is in both
//     looks. A pod's record exists before its first resource is made and
//     goes only after its last one is gone, so an object seen before the
//     state read whose record was already gone was removed before that
//     read; seen after it too, it is left over. A new pod's objects can
//     appear in the second look only, and are not judged.
//   - Something the state file claims (a container Running, a pod's IP and
//     namespace while its containers run) is missing only when the record
//     still claims it, unchanged, after the second look: the daemon writes
//     the record first whenever it takes such a thing away.
//   - Snapshots are checked by runtime.Client.Strays under the lock its own
//     CreateContainer and RemoveContainer hold, namespace files by
//     network.Manager.NetnsFiles under the pod locks of Setup and Teardown.
//   - The state file and the volume directories are read in one
//     transaction that holds the state file's writer lock (and writes
//     nothing, so commits nothing): EnsureVolume creates a directory
//     inside such a transaction, so records and directories are seen at
//     one instant.
//
// The checks themselves (doctor_checks.go) are pure functions of these
// readings.

// doctorRuntime is what the doctor reads from containerd.
type doctorRuntime interface {
	Containers(ctx context.Context) ([]runtime.ContainerStatus, error)
	Strays(ctx context.Context) (runtime.Strays, error)
}

// doctorNetwork is what the doctor reads of the pods' network.
type doctorNetwork interface {
	NetnsFiles(ctx context.Context) ([]network.Netns, error)
	NetnsMounts() ([]string, error)
	Allocations() ([]network.Allocation, error)
	Attachments() ([]string, error)
	NetworkName() string
}

// Compile-time checks that the real components fit the doctor.
var (
	_ doctorRuntime = (*runtime.Client)(nil)
	_ doctorNetwork = (*network.Manager)(nil)
)

// doctor checks the invariants of one daemon's state.
type doctor struct {
	store    *storage.Store
	rt       doctorRuntime
	net      doctorNetwork
	netnsDir string
}

// hostView is one look at containerd and the network.
type hostView struct {
	containers  []runtime.ContainerStatus // this instance's, sorted by ID
	netns       []network.Netns           // sorted by pod
	mounts      []string                  // mount points below the netns directory, sorted
	allocs      []network.Allocation      // sorted by IP
	hostLocal   bool                      // allocs could be listed
	attachments []string                  // cached CNI attachment IDs, sorted
}

// stateView is the state file, and the volume directories, at one instant.
type stateView struct {
	sets      []*appsv1.StatefulSet
	pods      []*corev1.Pod
	revisions map[string][]string // key(ns, set) -> revision names
	volumes   []storage.Volume
	// volumeDirs says, for each recorded volume's path and each entry of
	// the volume root that could be a volume, whether it is a directory
	// (absent: there is nothing at that path).
	volumeDirs map[string]bool
	// rootEntries are the paths of the volume root's entries whose names
	// could be volume names (storage's .trash cannot), sorted.
	rootEntries []string
}

// run takes the readings in the order the checks need and compares them.
func (d *doctor) run(ctx context.Context) (api.DoctorReport, error) {
	in := doctorInput{netnsDir: d.netnsDir, network: d.net.NetworkName()}
	var err error
	if in.before, err = d.host(ctx); err != nil {
		return api.DoctorReport{}, err
	}
	if in.state, err = d.state(); err != nil {
		return api.DoctorReport{}, err
	}
	if in.after, err = d.host(ctx); err != nil {
		return api.DoctorReport{}, err
	}
	if in.recheck, err = d.store.AllPods(); err != nil {
		return api.DoctorReport{}, fmt.Errorf("doctor: reading the pods again: %w", err)
	}
	if in.strays, err = d.rt.Strays(ctx); err != nil {
		return api.DoctorReport{}, fmt.Errorf("doctor: %w", err)
	}
	return diagnose(in), nil
}

// host looks at containerd and the network once.
func (d *doctor) host(ctx context.Context) (hostView, error) {
	var v hostView
	var err error
	if v.containers, err = d.rt.Containers(ctx); err != nil {
		return v, fmt.Errorf("doctor: %w", err)
	}
	if v.netns, err = d.net.NetnsFiles(ctx); err != nil {
		return v, fmt.Errorf("doctor: %w", err)
	}
	if v.mounts, err = d.net.NetnsMounts(); err != nil {
		return v, fmt.Errorf("doctor: %w", err)
	}
	v.allocs, err = d.net.Allocations()
	switch {
	case errdefs.IsNotImplemented(err):
	case err != nil:
		return v, fmt.Errorf("doctor: %w", err)
	default:
		v.hostLocal = true
	}
	if v.attachments, err = d.net.Attachments(); err != nil {
		return v, fmt.Errorf("doctor: %w", err)
	}
	return v, nil
}

// state reads the state file and the volume directories at one instant:
// in a read-write transaction that writes nothing, so that no EnsureVolume
// (which creates its directory inside its transaction) runs meanwhile. The
// transaction is never committed and costs no fsync.
func (d *doctor) state() (stateView, error) {
	var v stateView
	err := d.store.Update(func(tx *storage.Tx) error {
		v = stateView{revisions: map[string][]string{}, volumeDirs: map[string]bool{}}
		var err error
		if v.sets, err = tx.StatefulSets(); err != nil {
			return err
		}
		for _, set := range v.sets {
			revs, err := tx.Revisions(set.Namespace, set.Name)
			if err != nil {
				return err
			}
			for _, r := range revs {
				v.revisions[key(set.Namespace, set.Name)] = append(v.revisions[key(set.Namespace, set.Name)], r.Name)
			}
		}
		if v.pods, err = tx.AllPods(); err != nil {
			return err
		}
		if v.volumes, err = tx.Volumes(); err != nil {
			return err
		}
		return d.readVolumeDirs(&v)
	})
	if err != nil {
		return stateView{}, fmt.Errorf("doctor: reading the state file: %w", err)
	}
	return v, nil
}

// readVolumeDirs fills v's volume directory fields from the disk.
func (d *doctor) readVolumeDirs(v *stateView) error {
	root := d.store.VolumeDir()
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listing volume directories: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // not a DNS-1123 name, so no volume's: storage's trash
		}
		path := filepath.Join(root, e.Name())
		v.rootEntries = append(v.rootEntries, path)
		v.volumeDirs[path] = e.IsDir()
	}
	for _, vol := range v.volumes {
		if _, seen := v.volumeDirs[vol.Path]; seen {
			continue
		}
		fi, err := os.Lstat(vol.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("volume %s: %w", vol.Name, err)
		default:
			v.volumeDirs[vol.Path] = fi.IsDir()
		}
	}
	slices.Sort(v.rootEntries)
	return nil
}

// handleDoctor answers GET /v1/doctor.
func (d *Daemon) handleDoctor(w http.ResponseWriter, r *http.Request) {
	doc := &doctor{store: d.store, rt: d.rt, net: d.net, netnsDir: networkConfig(d.cfg).NetnsDir}
	report, err := doc.run(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}

// Doctor checks the invariants of the daemon that cfg configures while that
// daemon is not running, as `setlet doctor` asks a running one to: it opens
// the state file (refusing, with an errdefs.ErrUnavailable error, while a
// daemon holds it), connects to containerd and loads the network
// configuration, changing nothing. A missing state file is an
// errdefs.ErrNotFound error. Tests call it after stopping a daemon.
func Doctor(ctx context.Context, cfg configs.DaemonConfig) (api.DoctorReport, error) {
	cfg.Complete()
	path := stateFile(cfg)
	if _, err := os.Stat(path); err != nil {
		return api.DoctorReport{}, fmt.Errorf("doctor: state file %s: %w", path, errdefs.ErrNotFound)
	}
	store, err := storage.Open(path, storage.WithVolumeDir(volumeDir(cfg)), storage.WithLockTimeout(time.Second))
	if err != nil {
		return api.DoctorReport{}, fmt.Errorf("doctor: %w", err)
	}
	defer store.Close()
	rt, err := runtime.New(ctx, cfg.Containerd, runtimeOpts(cfg)...)
	if err != nil {
		return api.DoctorReport{}, fmt.Errorf("doctor: %w", err)
	}
	defer rt.Close()
	netCfg := networkConfig(cfg)
	pnet, err := network.New(netCfg, nil)
	if err != nil {
		return api.DoctorReport{}, fmt.Errorf("doctor: %w", err)
	}
	return (&doctor{store: store, rt: rt, net: pnet, netnsDir: netCfg.NetnsDir}).run(ctx)
}
