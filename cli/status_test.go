package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/setlet/setlet/daemon/api"
)

type fakeStatus struct{ st api.Status }

func (f fakeStatus) Status(context.Context) (api.Status, error) { return f.st, nil }

func TestRunStatus(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	reconciled := now.Add(-time.Hour)
	base := api.Status{
		Version: "v1.0.0", Started: now.Add(-time.Hour), Reconciled: &reconciled,
		Containerd: api.ContainerdStatus{Address: "/run/containerd/containerd.sock", Up: true, Since: now.Add(-time.Hour), Version: "1.7.24"},
		Network:    "setlet-setlet0", Subnet: "10.88.0.0/16", Gateway: "10.88.0.1",
		DNS: []string{"10.88.0.1:53"}, Zone: "set.local",
		ManifestDir: "/etc/setlet/manifests", ImageDir: "/var/lib/setlet/images",
		Sets: 1, Pods: map[string]int{"Running": 2, "Pending": 1}, ReadyPods: 2, Volumes: 3,
	}
	down := base
	down.Containerd.Up, down.Containerd.Since, down.Containerd.Error = false, now.Add(-2*time.Minute), "connection refused"
	down.ManifestErrors = 1
	down.Reconciled, down.Unreconciled = nil, 2
	for _, tc := range []struct {
		name string
		st   api.Status
		want string
		exit bool
	}{
		{"healthy", base, `daemon       setlet v1.0.0, up 60m
containerd   up 60m, 1.7.24 at /run/containerd/containerd.sock
network      setlet-setlet0, pods in 10.88.0.0/16, gateway 10.88.0.1
dns          set.local on 10.88.0.1:53
manifests    /etc/setlet/manifests
images       /var/lib/setlet/images
sets         1
pods         3 (Pending 1, Running 2), 2 Ready
volumes      3
`, false},
		{"containerd down and a refused manifest", down, `daemon       setlet v1.0.0, up 60m, still adopting or starting 2 pod(s) found at the start
containerd   DOWN for 2m at /run/containerd/containerd.sock: connection refused (pods are left as they are; setlet reconnects)
network      setlet-setlet0, pods in 10.88.0.0/16, gateway 10.88.0.1
dns          set.local on 10.88.0.1:53
manifests    /etc/setlet/manifests: 1 file(s) REFUSED (setlet get manifests -o wide says why)
images       /var/lib/setlet/images
sets         1
pods         3 (Pending 1, Running 2), 2 Ready
volumes      3
`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runStatus(context.Background(), fakeStatus{tc.st}, "", now, &out)
			var exit *exitError
			if got := errors.As(err, &exit) && exit.code == 1; got != tc.exit || (err != nil && !got) {
				t.Errorf("error %v, want exit 1: %v", err, tc.exit)
			}
			if out.String() != tc.want {
				t.Errorf("printed\n%s\nwant\n%s", out.String(), tc.want)
			}
		})
	}
}

// TestRunStatusExit: either cause alone makes status exit 1, whatever the
// output format, and json and yaml print the status as the API gives it.
func TestRunStatusExit(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	healthy := api.Status{Version: "v1.0.0", Containerd: api.ContainerdStatus{Up: true}, Sets: 2}
	containerdDown := healthy
	containerdDown.Containerd.Up = false
	refused := healthy
	refused.ManifestErrors = 1
	for _, tc := range []struct {
		name string
		st   api.Status
		exit bool
	}{
		{"healthy", healthy, false},
		{"containerd down only", containerdDown, true},
		{"a refused manifest only", refused, true},
	} {
		for _, output := range []string{"", "json", "yaml"} {
			t.Run(tc.name+"/"+output, func(t *testing.T) {
				var out bytes.Buffer
				err := runStatus(context.Background(), fakeStatus{tc.st}, output, now, &out)
				var exit *exitError
				if got := errors.As(err, &exit) && exit.code == 1; got != tc.exit || (err != nil && !got) {
					t.Errorf("error %v, want exit 1: %v", err, tc.exit)
				}
				var back api.Status
				switch output {
				case "json":
					err = json.Unmarshal(out.Bytes(), &back)
				case "yaml":
					err = yaml.Unmarshal(out.Bytes(), &back)
				default:
					return
				}
				if err != nil || back.Sets != 2 || back.Containerd.Up != tc.st.Containerd.Up || back.ManifestErrors != tc.st.ManifestErrors {
					t.Errorf("%s output %q read back as %+v, %v", output, out.String(), back, err)
				}
			})
		}
	}
}
