package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/setlet/setlet/daemon/api"
)

type fakeDoctor struct {
	report api.DoctorReport
	err    error
}

func (f fakeDoctor) Doctor(context.Context) (api.DoctorReport, error) { return f.report, f.err }

// doctorReport is a report with every check passing but those in failed,
// which get one problem each, and a warning on volumes.
func doctorReport(failed ...string) api.DoctorReport {
	r := api.DoctorReport{Pods: 3}
	for _, name := range []string{api.CheckOrdinals, api.CheckContainers, api.CheckNetworkNamespaces, api.CheckIPAllocations,
		api.CheckSnapshots, api.CheckVolumes, api.CheckRevisions} {
		c := api.DoctorCheck{Name: name, OK: true}
		for _, f := range failed {
			if f == name {
				c.OK, c.Problems = false, []string{"something of " + name + " leaked"}
			}
		}
		if name == api.CheckVolumes {
			c.Warnings = []string{"directory /var/lib/setlet/volumes/www-web-9 has no volume record"}
		}
		r.Checks = append(r.Checks, c)
	}
	r.Sets = []api.SetConvergence{
		{Namespace: "default", Name: "db", Replicas: 3, Ready: 1, Updated: 1, UpdateRevision: "db-7c9a", Waiting: "db-1 is not Running and Ready; db-2 does not exist"},
		{Namespace: "default", Name: "old", Deleted: true, Waiting: "the set is deleted; 2 pods still to remove"},
		{Namespace: "default", Name: "web", Converged: true, Replicas: 3, Ready: 3, Updated: 3, UpdateRevision: "web-5d8f"},
	}
	return r
}

func TestRunDoctor(t *testing.T) {
	sets := "set default/db       not yet: 1/3 Ready, 1/3 at revision db-7c9a: db-1 is not Running and Ready; db-2 does not exist\n" +
		"set default/old      not yet: the set is deleted; 2 pods still to remove\n" +
		"set default/web      converged: 3/3 Ready, 3/3 at revision web-5d8f\n"
	for _, tc := range []struct {
		name    string
		client  fakeDoctor
		output  string
		want    string
		wantErr string
	}{
		{"Doctor/every invariant holds: a line per check and per set, no error", fakeDoctor{report: doctorReport()}, "",
			"ordinals             ok\n" +
				"containers           ok\n" +
				"network-namespaces   ok\n" +
				"ip-allocations       ok\n" +
				"snapshots            ok\n" +
				"volumes              ok\n" +
				"volumes              warning: directory /var/lib/setlet/volumes/www-web-9 has no volume record\n" +
				"revisions            ok\n" + sets, ""},
		{"Doctor/a broken invariant: its problems instead of ok, and an error naming the checks",
			fakeDoctor{report: doctorReport(api.CheckContainers, api.CheckVolumes)}, "",
			"ordinals             ok\n" +
				"containers           something of containers leaked\n" +
				"network-namespaces   ok\n" +
				"ip-allocations       ok\n" +
				"snapshots            ok\n" +
				"volumes              something of volumes leaked\n" +
				"volumes              warning: directory /var/lib/setlet/volumes/www-web-9 has no volume record\n" +
				"revisions            ok\n" + sets,
			"2 of 7 checks failed: containers, volumes"},
		{"Doctor/the daemon's error", fakeDoctor{err: fmt.Errorf("doctor: listing containers: %w", errdefs.ErrUnavailable)}, "", "",
			"doctor: listing containers: unavailable"},
		{"Doctor/-o yaml is refused", fakeDoctor{report: doctorReport()}, "yaml", "", `unsupported output format "yaml": use json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runDoctor(context.Background(), tc.client, tc.output, &out)
			if out.String() != tc.want {
				t.Errorf("printed\n%s\nwant\n%s", out.String(), tc.want)
			}
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestRunDoctorJSON checks that -o json prints the report as the API gives
// it, also when a check fails.
func TestRunDoctorJSON(t *testing.T) {
	report := doctorReport(api.CheckSnapshots)
	var out bytes.Buffer
	err := runDoctor(context.Background(), fakeDoctor{report: report}, outputJSON, &out)
	if err == nil || err.Error() != "1 of 7 checks failed: snapshots" {
		t.Errorf("error %v, want the failed check", err)
	}
	var got api.DoctorReport
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("-o json printed %q: %v", out.String(), err)
	}
	if !reflect.DeepEqual(got, report) {
		t.Errorf("got %+v\nwant %+v", got, report)
	}
	for _, field := range []string{`"checks"`, `"ok": false`, `"problems"`, `"warnings"`, `"sets"`, `"converged": true`, `"updateRevision"`, `"waiting"`, `"deleted": true`, `"pods": 3`} {
		if !strings.Contains(out.String(), field) {
			t.Errorf("-o json lacks %s:\n%s", field, out.String())
		}
	}
}

// TestDoctorCommand runs `setlet doctor` through Main without a daemon.
func TestDoctorCommand(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "setlet.sock")
	for _, tc := range []struct {
		args       []string
		wantStderr string
	}{
		{[]string{"doctor"}, "setlet: cannot reach the setlet daemon at " + socket + ": is it running? (start it with `sudo setlet daemon`)\n"},
		{[]string{"doctor", "-o", "json"}, "setlet: cannot reach the setlet daemon at " + socket + ": is it running? (start it with `sudo setlet daemon`)\n"},
		{[]string{"doctor", "-o", "wide"}, "setlet: unsupported output format \"wide\": use json\n"},
		{[]string{"doctor", "web"}, "setlet: doctor takes no arguments, got \"web\"\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"setlet", "--socket", socket}, tc.args...), strings.NewReader(""), &stdout, &stderr)
		if code != 1 || stdout.Len() != 0 || stderr.String() != tc.wantStderr {
			t.Errorf("%v: exit code %d, stdout %q, stderr %q; want 1, nothing, %q", tc.args, code, stdout.String(), stderr.String(), tc.wantStderr)
		}
	}
}
