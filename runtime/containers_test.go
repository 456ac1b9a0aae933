package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/cio"
	cerrdefs "github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/internal/busybox"
	"github.com/setlet/setlet/runtime"
)

var criRecord = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z) (stdout|stderr) ([PF]) (.*)$`)

// TestRunContainer runs a container to completion and checks its exit
// event, its status and its CRI log.
func TestRunContainer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("run")
	e.importBusybox(c)
	ev := subscribe(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cfg := e.config("echo", "sh", "-c", "echo out; echo err >&2; hostname")
	cfg.Hostname = "web-0"
	before := time.Now()
	pid := e.run(c, cfg)
	if start := ev.waitFor("echo", runtime.EventStart); start.At.Before(before.Add(-time.Second)) {
		t.Errorf("start event at %v, before the start", start.At)
	}
	exit := ev.waitFor("echo", runtime.EventExit)
	if exit.ExitCode != 0 || exit.At.Before(before) {
		t.Errorf("exit event %+v, want code 0 after %v", exit, before)
	}

	st, err := c.ContainerStatus(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateExited || st.ExitCode != 0 || st.Reason != runtime.ReasonCompleted || st.Pid != pid {
		t.Errorf("status %s, want exited 0 Completed with pid %d", fmtStatus(st), pid)
	}
	if st.Image != busybox.DefaultName || st.LogPath != cfg.LogPath || len(st.Labels) != 1 || st.Labels["test"] != e.ns {
		t.Errorf("status image %q log %q labels %v", st.Image, st.LogPath, st.Labels)
	}
	if st.CreatedAt.IsZero() || st.StartedAt.Before(st.CreatedAt) || st.FinishedAt.Before(st.StartedAt) || !st.FinishedAt.Equal(exit.At) {
		t.Errorf("created %v started %v finished %v (exit event %v)", st.CreatedAt, st.StartedAt, st.FinishedAt, exit.At)
	}

	waitLog(t, cfg.LogPath, regexp.MustCompile(`web-0\n`))
	data, err := os.ReadFile(cfg.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		m := criRecord.FindStringSubmatch(line)
		if m == nil || m[4] != "F" {
			t.Fatalf("log line %q is not a full CRI record", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Errorf("timestamp %q: %v", m[1], err)
		}
		got[m[3]] = append(got[m[3]], m[5])
	}
	if strings.Join(got["stdout"], ",") != "out,web-0" || strings.Join(got["stderr"], ",") != "err" {
		t.Errorf("log records %q, want stdout out,web-0 and stderr err", got)
	}

	if err := c.CreateContainer(ctx, cfg); !errdefs.IsAlreadyExists(err) {
		t.Errorf("CreateContainer again: %v, want already exists", err)
	}
	if _, err := c.StartContainer(ctx, "echo"); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("StartContainer of an exited task: %v, want failed precondition", err)
	}
	if err := c.StopContainer(ctx, "echo", time.Second); err != nil {
		t.Errorf("StopContainer of an exited task: %v", err)
	}
	if _, err := c.ContainerStatus(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("ContainerStatus(nope): %v, want not found", err)
	}
	if err := c.CreateContainer(ctx, runtime.ContainerConfig{ID: "bad/id", Image: busybox.DefaultName}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("CreateContainer(bad/id): %v, want invalid argument", err)
	}
	if err := c.CreateContainer(ctx, runtime.ContainerConfig{ID: "noimage", Image: "setlet.local/missing:1", Command: []string{"sh"}}); !errdefs.IsNotFound(err) {
		t.Errorf("CreateContainer with a missing image: %v, want not found", err)
	}

	// A created container that never started, then a second one.
	idle := e.config("idle", "sleep", "3600")
	if err := c.CreateContainer(ctx, idle); err != nil {
		t.Fatal(err)
	}
	list, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "echo" || list[1].ID != "idle" || list[1].State != runtime.StateCreated || list[1].Pid != 0 {
		t.Errorf("Containers = %v", list)
	}
}

// TestStopContainer stops a container that exits on SIGTERM and one that
// ignores it.
func TestStopContainer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("stop")
	e.importBusybox(c)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	t.Run("within grace", func(t *testing.T) {
		cfg := e.config("graceful", "sh", "-c", `trap "echo term; exit 3" TERM; echo ready; while true; do sleep 0.1; done`)
		e.run(c, cfg)
		waitLog(t, cfg.LogPath, regexp.MustCompile(`ready\n`)) // the trap is set
		began := time.Now()
		if err := c.StopContainer(ctx, "graceful", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took > 10*time.Second {
			t.Errorf("stop took %v, want the process's own exit", took)
		}
		st, err := c.ContainerStatus(ctx, "graceful")
		if err != nil {
			t.Fatal(err)
		}
		if st.State != runtime.StateExited || st.ExitCode != 3 || st.Reason != runtime.ReasonError {
			t.Errorf("status %s, want exited 3 Error", fmtStatus(st))
		}
		waitLog(t, cfg.LogPath, regexp.MustCompile(`ready\nterm\n`))
	})
	t.Run("killed after grace", func(t *testing.T) {
		cfg := e.config("stubborn", "sh", "-c", `trap "" TERM; echo ready; while true; do sleep 0.1; done`)
		e.run(c, cfg)
		waitLog(t, cfg.LogPath, regexp.MustCompile(`ready\n`))
		began := time.Now()
		if err := c.StopContainer(ctx, "stubborn", time.Second); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took < time.Second {
			t.Errorf("stop took %v, less than the grace period", took)
		}
		st, err := c.ContainerStatus(ctx, "stubborn")
		if err != nil {
			t.Fatal(err)
		}
		if st.State != runtime.StateExited || st.ExitCode != 137 {
			t.Errorf("status %s, want exited 137 (SIGKILL)", fmtStatus(st))
		}
		if err := c.StopContainer(ctx, "stubborn", time.Second); err != nil {
			t.Errorf("stopping again: %v", err)
		}
	})
	t.Run("no task", func(t *testing.T) {
		if err := c.CreateContainer(ctx, e.config("created", "sh")); err != nil {
			t.Fatal(err)
		}
		if err := c.StopContainer(ctx, "created", time.Second); err != nil {
			t.Errorf("StopContainer without a task: %v", err)
		}
		if err := c.StopContainer(ctx, "missing", time.Second); err != nil {
			t.Errorf("StopContainer of a missing container: %v", err)
		}
	})
}

// TestSecurityContext runs a container with a read-only root file system
// as user 65534.
func TestSecurityContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("security")
	e.importBusybox(c)
	ev := subscribe(t, c)
	cfg := e.config("locked", "sh", "-c", `id -u; id -g; if touch /x; then echo writable; else echo readonly; fi`)
	cfg.Security = &corev1.SecurityContext{RunAsUser: ptr[int64](65534), ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false)}
	e.run(c, cfg)
	if exit := ev.waitFor("locked", runtime.EventExit); exit.ExitCode != 0 {
		t.Errorf("exit code %d", exit.ExitCode)
	}
	// stdout and stderr race each other into the log.
	log := waitLog(t, cfg.LogPath, regexp.MustCompile(`(?s)readonly\n.*Read-only file system|Read-only file system.*readonly\n`))
	var stdout []string
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.Contains(l, "Read-only file system") {
			stdout = append(stdout, l)
		}
	}
	if strings.Join(stdout, ",") != "65534,65534,readonly" {
		t.Errorf("log %q, want uid and gid 65534 and a read-only root", log)
	}
}

// TestMemoryLimit checks that a memory limit reaches the container's
// cgroup, and that a container killed for exceeding it is OOMKilled.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("memory")
	e.importBusybox(c)
	ev := subscribe(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cfg := e.config("limited", "sleep", "3600")
	cfg.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resourceQuantity("32Mi")}
	e.run(c, cfg)
	ctr, err := e.cd.LoadContainer(e.ctx(), "limited")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ctr.Spec(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if l := spec.Linux.Resources.Memory.Limit; l == nil || *l != 32<<20 {
		t.Fatalf("spec memory limit %v, want 32 MiB", l)
	}
	// The host's view of the container's cgroup, and the container's own.
	hostFile, inside := filepath.Join("/sys/fs/cgroup/memory", spec.Linux.CgroupsPath, "memory.limit_in_bytes"), "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // cgroup v2
		hostFile, inside = filepath.Join("/sys/fs/cgroup", spec.Linux.CgroupsPath, "memory.max"), "/sys/fs/cgroup/memory.max"
	}
	data, err := os.ReadFile(hostFile)
	if err != nil || strings.TrimSpace(string(data)) != "33554432" {
		t.Errorf("%s = %q, %v; want 33554432", hostFile, data, err)
	}
	var out strings.Builder
	if code, err := c.Exec(ctx, "limited", runtime.ExecConfig{Cmd: []string{"cat", inside}, Stdout: &out}); err != nil || code != 0 || strings.TrimSpace(out.String()) != "33554432" {
		t.Errorf("in the container, %s = %q (exit %d, %v); want 33554432", inside, out.String(), code, err)
	}

	// The hog allocates once told to: the shim watches for OOM kills from
	// the end of the task's start on, and an earlier one would go unseen.
	hog := e.config("hog", "sh", "-c", `while [ ! -e /tmp/go ]; do sleep 0.05; done; x=$(head -c 268435456 /dev/zero | tr "\0" a); echo survived`)
	hog.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resourceQuantity("16Mi")}
	e.run(c, hog)
	if code, err := c.Exec(ctx, "hog", runtime.ExecConfig{Cmd: []string{"touch", "/tmp/go"}}); err != nil || code != 0 {
		t.Fatalf("telling the hog to go: %d, %v", code, err)
	}
	ev.waitFor("hog", runtime.EventOOM)
	if exit := ev.waitFor("hog", runtime.EventExit); exit.ExitCode != 137 {
		t.Errorf("exit code %d, want 137", exit.ExitCode)
	}
	st, err := c.ContainerStatus(ctx, "hog")
	if err != nil {
		t.Fatal(err)
	}
	if st.Reason != runtime.ReasonOOMKilled {
		t.Errorf("status %s, want OOMKilled", fmtStatus(st))
	}
}

// TestAttachAfterRestart closes the client while a container writes a line
// every 100 ms, and checks that a new client with the same instance and
// FIFO directory resumes the copying into the same log: no line lost or
// repeated, the same process.
func TestAttachAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.client("restart")
	e.importBusybox(first)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	cfg := e.config("ticker", "sh", "-c", `i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.1; done`)
	pid := e.run(first, cfg)
	waitLog(t, cfg.LogPath, regexp.MustCompile(`line 3\n`))
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// The container keeps running and writing into its FIFO meanwhile.
	seen := readLog(t, cfg.LogPath)
	last := len(strings.Split(strings.TrimSpace(seen), "\n")) - 1

	second := e.client("restart")
	st, err := second.ContainerStatus(ctx, "ticker")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateRunning || st.Pid != pid {
		t.Fatalf("after the restart: %s, want running with pid %d", fmtStatus(st), pid)
	}
	if err := second.Attach(ctx, "ticker"); err != nil {
		t.Fatal(err)
	}
	if err := second.Attach(ctx, "ticker"); err != nil {
		t.Fatalf("second Attach: %v", err)
	}
	want := regexp.MustCompile(`line ` + itoa(last+10) + `\n`)
	text := waitLog(t, cfg.LogPath, want)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	for i, l := range lines {
		if l != "line "+itoa(i) {
			t.Fatalf("line %d of the log is %q: lines lost or repeated across the restart", i, l)
		}
	}
	if pid2, err := second.StartContainer(ctx, "ticker"); err != nil || pid2 != pid {
		t.Errorf("StartContainer of the running task = %d, %v; want %d", pid2, err, pid)
	}
	if err := second.Attach(ctx, "missing"); !errdefs.IsNotFound(err) {
		t.Errorf("Attach(missing) = %v, want not found", err)
	}
}

// TestRemoveContainer checks that nothing of a removed container is left
// in containerd, and that removal finishes what a crash interrupted.
func TestRemoveContainer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("remove")
	e.importBusybox(c)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sn := e.cd.SnapshotService("overlayfs")

	gone := func(id string) {
		t.Helper()
		if _, err := e.cd.LoadContainer(e.ctx(), id); !errdefs.IsNotFound(err) {
			t.Errorf("container %s: %v, want not found", id, err)
		}
		if _, err := e.cd.TaskService().Get(e.ctx(), &tasks.GetRequest{ContainerID: id}); !errdefs.IsNotFound(cerrdefs.FromGRPC(err)) {
			t.Errorf("task %s: %v, want not found", id, err)
		}
		if _, err := sn.Stat(e.ctx(), id); !errdefs.IsNotFound(err) {
			t.Errorf("snapshot %s: %v, want not found", id, err)
		}
		if _, err := os.Stat(filepath.Join(e.fifo, e.ns, id)); !os.IsNotExist(err) {
			t.Errorf("FIFO directory of %s: %v, want none", id, err)
		}
		if _, err := c.ContainerStatus(ctx, id); !errdefs.IsNotFound(err) {
			t.Errorf("ContainerStatus(%s) = %v, want not found", id, err)
		}
	}

	running := e.config("running", "sleep", "3600")
	e.run(c, running)
	if _, err := sn.Stat(e.ctx(), "running"); err != nil {
		t.Fatalf("snapshot of a running container: %v", err)
	}
	if err := c.RemoveContainer(ctx, "running"); err != nil {
		t.Fatal(err)
	}
	gone("running")
	if err := c.RemoveContainer(ctx, "running"); err != nil {
		t.Errorf("removing again: %v", err)
	}

	if err := c.CreateContainer(ctx, e.config("created", "sh")); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveContainer(ctx, "created"); err != nil {
		t.Fatal(err)
	}
	gone("created")

	// A create interrupted after preparing the snapshot: creating again
	// succeeds, and so does removing a container that was never recorded.
	img, err := e.cd.GetImage(e.ctx(), busybox.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	diffIDs, err := img.RootFS(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	prepare := func(id string) {
		t.Helper()
		if _, err := sn.Prepare(e.ctx(), id, chainID(diffIDs), snapshots.WithLabels(map[string]string{runtime.LabelInstance: "remove"})); err != nil {
			t.Fatal(err)
		}
	}
	prepare("crashed")
	if err := c.CreateContainer(ctx, e.config("crashed", "sh")); err != nil {
		t.Fatalf("CreateContainer over a leftover snapshot: %v", err)
	}
	if err := c.RemoveContainer(ctx, "crashed"); err != nil {
		t.Fatal(err)
	}
	gone("crashed")
	prepare("orphan")
	if err := c.RemoveContainer(ctx, "orphan"); err != nil {
		t.Fatal(err)
	}
	gone("orphan")
}

// TestInstances checks that two clients of different instances in one
// namespace do not see or touch each other's containers.
func TestInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.client("a"), e.client("b")
	e.importBusybox(a)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	evA, evB := subscribe(t, a), subscribe(t, b)

	e.run(a, e.config("of-a", "sleep", "3600"))
	e.run(b, e.config("of-b", "sleep", "3600"))
	// A's start was published first: B's subscription would see it first.
	if got := evB.next(); got.ContainerID != "of-b" || got.Type != runtime.EventStart {
		t.Errorf("B's first event %+v, want the start of of-b", got)
	}
	if got := evA.next(); got.ContainerID != "of-a" || got.Type != runtime.EventStart {
		t.Errorf("A's first event %+v, want the start of of-a", got)
	}

	for _, tc := range []struct {
		c    *runtime.Client
		want string
	}{{a, "of-a"}, {b, "of-b"}} {
		list, err := tc.c.Containers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != tc.want || list[0].State != runtime.StateRunning {
			t.Errorf("Containers = %+v, want only %s, running", list, tc.want)
		}
	}
	if _, err := b.ContainerStatus(ctx, "of-a"); !errdefs.IsNotFound(err) {
		t.Errorf("B sees of-a: %v", err)
	}
	if err := b.CreateContainer(ctx, e.config("of-a", "sh")); !errdefs.IsConflict(err) {
		t.Errorf("B creating of-a: %v, want conflict", err)
	}
	if err := b.RemoveContainer(ctx, "of-a"); err != nil {
		t.Errorf("B removing of-a: %v", err)
	}
	if err := b.StopContainer(ctx, "of-a", 0); err != nil {
		t.Errorf("B stopping of-a: %v", err)
	}
	if _, err := b.Exec(ctx, "of-a", runtime.ExecConfig{Cmd: []string{"true"}}); !errdefs.IsNotFound(err) {
		t.Errorf("B exec in of-a: %v, want not found", err)
	}
	if st, err := a.ContainerStatus(ctx, "of-a"); err != nil || st.State != runtime.StateRunning {
		t.Errorf("of-a after B's attempts: %v, %v; want running", st, err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	missing := filepath.Join(t.TempDir(), "nothing.sock")
	_, err := runtime.New(ctx, missing, runtime.WithInstance("x"), runtime.WithFIFODir(t.TempDir()))
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), missing) {
		t.Errorf("New(missing socket) = %v, want unavailable naming the socket", err)
	}
	if _, err := runtime.New(ctx, e.addr, runtime.WithFIFODir(t.TempDir())); !errdefs.IsInvalidArgument(err) {
		t.Errorf("New without instance = %v, want invalid argument", err)
	}
	if _, err := runtime.New(ctx, e.addr, runtime.WithInstance("x")); !errdefs.IsInvalidArgument(err) {
		t.Errorf("New without FIFO dir = %v, want invalid argument", err)
	}
	c := e.client("new")
	v, err := c.Version(ctx)
	if err != nil || v == "" {
		t.Errorf("Version = %q, %v", v, err)
	}
	t.Logf("containerd %s", v)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Version(ctx); err == nil {
		t.Error("Version after Close succeeded")
	}
}

// TestCreatedTask covers a task that was created but not started, as a
// daemon crash between the two steps leaves it: StartContainer starts it,
// StopContainer and RemoveContainer end it.
func TestCreatedTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("created")
	e.importBusybox(c)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	newTask := func(id string) uint32 {
		t.Helper()
		if err := c.CreateContainer(ctx, e.config(id, "sleep", "3600")); err != nil {
			t.Fatal(err)
		}
		ctr, err := e.cd.LoadContainer(e.ctx(), id)
		if err != nil {
			t.Fatal(err)
		}
		task, err := ctr.NewTask(e.ctx(), cio.NullIO)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := c.ContainerStatus(ctx, id); err != nil || st.State != runtime.StateCreated || st.Pid != task.Pid() {
			t.Fatalf("status %s, %v; want created with pid %d", fmtStatus(st), err, task.Pid())
		}
		return task.Pid()
	}

	pid := newTask("resumed")
	if got, err := c.StartContainer(ctx, "resumed"); err != nil || got != pid {
		t.Fatalf("StartContainer = %d, %v; want %d", got, err, pid)
	}
	if st, err := c.ContainerStatus(ctx, "resumed"); err != nil || st.State != runtime.StateRunning || st.StartedAt.IsZero() {
		t.Errorf("status %s, %v; want running", fmtStatus(st), err)
	}

	newTask("stopped")
	if err := c.StopContainer(ctx, "stopped", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, err := c.ContainerStatus(ctx, "stopped"); err != nil || st.State != runtime.StateExited {
		t.Errorf("status %s, %v; want exited", fmtStatus(st), err)
	}

	newTask("removed")
	if err := c.RemoveContainer(ctx, "removed"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContainerStatus(ctx, "removed"); !errdefs.IsNotFound(err) {
		t.Errorf("ContainerStatus after removal: %v", err)
	}
}
