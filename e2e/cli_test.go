package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestDemo runs the README's demo through the CLI: apply, the pods Ready
// in order, the kubectl-like outputs, exec, logs, a deleted pod coming back
// with its data, and a broken manifest refused with its field path.
func TestDemo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.mustRun("apply", "-f", demoManifest(t))
	if out != "service/nginx created\nstatefulset.apps/web created\n" {
		t.Errorf("apply printed %q", out)
	}
	e.waitPods(deadline(t, 90*time.Second), readyPods(3))

	table := e.mustRun("get", "pods")
	rows := regexp.MustCompile(`(?m)^(web-[0-2])\s+1/1\s+Running\s+0\s+\S+$`).FindAllStringSubmatch(table, -1)
	if !strings.HasPrefix(table, "NAME    READY   STATUS    RESTARTS   AGE\n") || len(rows) != 3 {
		t.Errorf("get pods printed:\n%s", table)
	}
	var list struct {
		APIVersion string       `json:"apiVersion"`
		Kind       string       `json:"kind"`
		Items      []corev1.Pod `json:"items"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("get", "pods", "-o", "json")), &list); err != nil || list.Kind != "List" || len(list.Items) != 3 {
		t.Fatalf("get pods -o json: %v, %+v", err, list.Kind)
	}
	for _, p := range list.Items {
		if p.Kind != "Pod" || p.Status.PodIP == "" || len(p.Status.ContainerStatuses) != 1 {
			t.Errorf("pod %s in JSON: kind %q, podIP %q", p.Name, p.Kind, p.Status.PodIP)
		}
	}
	if got := strings.TrimSpace(e.mustRun("exec", "web-1", "--", "hostname")); got != "web-1" {
		t.Errorf("exec hostname printed %q", got)
	}
	if got := strings.TrimSpace(e.mustRun("exec", "web-2", "--", "cat", "/www/index.html")); got != "hello from web-2" {
		t.Errorf("the volume of web-2 holds %q", got)
	}
	// Peers by their stable names, through the daemon's DNS server.
	if got := strings.TrimSpace(e.mustRun("exec", "web-0", "--", "wget", "-qO-", "http://web-1.nginx")); got != "hello from web-1" {
		t.Errorf("web-0 asking web-1.nginx got %q", got)
	}
	if dns := e.mustRun("get", "dns", "web-2"); !regexp.MustCompile(`(?m)^web-2\.nginx\.set\.local\.\s+5\s+A\s+10\.234\.`).MatchString(dns) {
		t.Errorf("get dns web-2 printed:\n%s", dns)
	}
	if _, _, code := e.run("exec", "web-0", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec exit code = %d, want 7", code)
	}
	vols := e.mustRun("get", "volumes", "-o", "wide")
	if !strings.Contains(vols, filepath.Join(e.dir, "data", "volumes", "www-web-0")) {
		t.Errorf("get volumes -o wide shows no host path:\n%s", vols)
	}
	if desc := e.mustRun("describe", "set", "web"); !strings.Contains(desc, "Replicas:") || !strings.Contains(desc, "SuccessfulCreate") {
		t.Errorf("describe set printed:\n%s", desc)
	}

	// A deleted pod comes back under its name with its data.
	e.mustRun("exec", "web-1", "--", "sh", "-c", "echo kept > /www/data")
	if out := e.mustRun("delete", "pod", "web-1"); out != "pod \"web-1\" deleted\n" {
		t.Errorf("delete pod printed %q", out)
	}
	e.waitPods(deadline(t, 60*time.Second), readyPods(3))
	if got := strings.TrimSpace(e.mustRun("exec", "web-1", "--", "cat", "/www/data")); got != "kept" {
		t.Errorf("data after web-1 came back: %q", got)
	}

	// A broken manifest is refused whole with the field path.
	broken := filepath.Join(e.dir, "broken.yaml")
	manifest, err := os.ReadFile(demoManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(manifest), "replicas: 3", "replicas: 5", 1) + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: other\nspec:\n  clusterIP: None\n  ports:\n  - port: 80\n    protocol: ICMP\n"
	if err := os.WriteFile(broken, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.run("apply", "-f", broken)
	want := broken + ` doc 3 (Service other): spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"` + "\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("apply of a broken manifest: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, want)
	}
	if got := e.mustRun("get", "sets"); !strings.Contains(got, "web    3/3") {
		t.Errorf("the set changed after a refused apply:\n%s", got)
	}
}

// TestKillDaemon: killing the daemon with SIGKILL and starting it again
// restarts no container (same task pids), duplicates no pod, and the set
// keeps working.
func TestKillDaemon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustRun("apply", "-f", demoManifest(t))
	e.waitPods(deadline(t, 90*time.Second), readyPods(3))
	before := e.tasks()
	if len(before) != 3 {
		t.Fatalf("tasks before = %v", before)
	}
	e.kill()
	e.start()
	e.waitPods(deadline(t, 30*time.Second), readyPods(3))
	after := e.tasks()
	if len(after) != len(before) {
		t.Errorf("tasks after the restart = %v, before %v", after, before)
	}
	for id, pid := range before {
		if after[id] != pid {
			t.Errorf("container %s: pid %d before, %d after: it was restarted", id, pid, after[id])
		}
	}
	pods, err := e.client.Pods(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("%s restarted %d times", p.Name, p.Status.ContainerStatuses[0].RestartCount)
		}
	}
	// DNS answers at once with the adopted pods' addresses.
	for _, p := range pods {
		if got := strings.TrimSpace(e.mustRun("exec", "web-0", "--", "nslookup", p.Name+".nginx.set.local")); !strings.Contains(got, "Address: "+p.Status.PodIP) {
			t.Errorf("after the restart nslookup %s.nginx.set.local printed:\n%s", p.Name, got)
		}
	}
	// The adopted set still works: scale it and exec into it.
	e.mustRun("scale", "set", "web", "--replicas", "2")
	e.waitPods(deadline(t, 60*time.Second), readyPods(2))
	if got := strings.TrimSpace(e.mustRun("exec", "web-0", "--", "hostname")); got != "web-0" {
		t.Errorf("exec after the restart printed %q", got)
	}
}

// TestNoDaemon: a command without a daemon says so, with the socket path.
func TestNoDaemon(t *testing.T) {
	t.Parallel()
	socket := filepath.Join(t.TempDir(), "none.sock")
	e := &env{t: t, socket: socket}
	out, errOut, code := e.run("get", "pods")
	want := "setlet: cannot reach the setlet daemon at " + socket + ": is it running? (start it with `sudo setlet daemon`)\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("get pods without a daemon: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
