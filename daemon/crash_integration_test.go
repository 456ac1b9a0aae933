package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/storage"
)

// Regression tests for what the fault-injection harness
// (e2e/faults_test.go) found: a daemon killed between two steps of a
// change leaves the state file as edit leaves it here, and the next start
// must finish the change.

// restartWith stops the daemon (which leaves the containers running, as a
// kill does), lets edit change the state file as a daemon killed between
// two steps would have left it, and starts the daemon again on the same
// configuration.
func (h *harness) restartWith(edit func(*storage.Store) error) {
	t := h.t
	t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("daemon stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop")
	}
	store, err := storage.Open(filepath.Join(h.cfg.DataDir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = edit(store)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("editing the state file: %v", err)
	}
	h.run()
}

// TestSetDeletedBeforeACrash: a set whose deletion the state file holds,
// but whose pods the daemon had not yet begun to remove when it was
// killed (`setlet delete set` commits the deletion, then asks for the pass
// that removes the pods), loses its pods and revisions at the next start,
// and keeps its volumes (whenDeleted Retain).
func TestSetDeletedBeforeACrash(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 2, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))
	h.restartWith(func(store *storage.Store) error {
		return store.DeleteObject(storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: "default", Name: "web"})
	})
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool { return len(pods) == 0 })
	ctx := context.Background()
	if revs, err := h.client.AllRevisions(ctx, ""); err != nil || len(revs) != 0 {
		t.Errorf("revisions after the deleted set's pods went: %d (%v), want none", len(revs), err)
	}
	if vols, err := h.client.Volumes(ctx, "default"); err != nil || len(vols) != 2 {
		t.Errorf("volumes after the deleted set's pods went: %d (%v), want both kept", len(vols), err)
	}
}

// TestEmptySetDeletedBeforeACrash: a set scaled to zero whose deletion the
// state file holds, but whose revisions the daemon had not yet removed when
// it was killed, loses its revisions at the next start, though no pod
// belongs to it any more.
func TestEmptySetDeletedBeforeACrash(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 1, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady("web-0"))
	if err := h.client.Scale(context.Background(), "default", "web", 0, false); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool { return len(pods) == 0 })
	h.restartWith(func(store *storage.Store) error {
		return store.DeleteObject(storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: "default", Name: "web"})
	})
	// The controller works its queue in order, and the start queued the
	// deleted set before this apply: once the new set has a pod, the
	// deleted set's pass has run.
	h.apply(webSet("after", 1, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool { return pods["after-0"] != nil })
	revs, err := h.client.AllRevisions(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range revs {
		if metav1.GetControllerOf(&r).Name != "after" {
			t.Errorf("revision %s of the deleted set web is still stored", r.Name)
		}
	}
	if len(revs) != 1 {
		t.Errorf("revisions: %d, want the one of set after", len(revs))
	}
}

// TestStartWaitsForLeftPlugins: a CNI plugin that a killed daemon left
// running for one of its pods (here a process with a plugin's environment)
// has exited before the next daemon is ready, so the two never work on
// one pod's network at once.
func TestStartWaitsForLeftPlugins(t *testing.T) {
	t.Parallel()
	var plugin *exec.Cmd
	exitedAt := make(chan struct{})
	h := startBareDaemon(t, func(cfg *configs.DaemonConfig) {
		plugin = exec.Command("sleep", "3") // longer than the daemon takes to start
		plugin.Env = append(os.Environ(), "CNI_COMMAND=DEL", "CNI_CONTAINERID=uid", "CNI_IFNAME=eth0",
			"CNI_NETNS="+filepath.Join(cfg.RunDir, "netns", "web-0"))
		if err := plugin.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { plugin.Wait(); close(exitedAt) }()
	})
	// Reaped only by this test: a zombie (or gone) has exited.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", plugin.Process.Pid))
	if err == nil {
		if _, rest, _ := strings.Cut(string(stat), ") "); !strings.HasPrefix(rest, "Z") {
			t.Errorf("the daemon is ready while the plugin left running still runs: %s", stat)
		}
	}
	if !strings.Contains(h.log.String(), "waiting for a CNI plugin a previous daemon left running") {
		t.Errorf("the daemon did not say it waited for the plugin:\n%s", h.log.String())
	}
	<-exitedAt
}
