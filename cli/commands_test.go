package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setlet/setlet/daemon/api"
)

// TestCommands runs every command through Main against a socket no daemon
// listens on: wrong arguments give one clear line and exit 1, and a call
// that reaches for the daemon says it is not running, naming the socket.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "setlet.sock")
	manifest := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: nginx\nspec:\n  clusterIP: None\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "image.tar")
	if err := os.WriteFile(archive, []byte("not really a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	unreachable := "setlet: cannot reach the setlet daemon at " + socket + ": is it running? (start it with `sudo setlet daemon`)\n"

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		// apply
		{"apply", []string{"apply", "-f", manifest}, 1, "", unreachable},
		{"apply a directory, dry run", []string{"apply", "-f", dir, "--dry-run"}, 1, "", unreachable},
		{"apply --dry-run=server", []string{"apply", "--dry-run=server", "-f", "-"}, 1, "", unreachable},
		{"apply needs -f", []string{"apply"}, 1, "", "setlet: apply needs -f FILE, -f DIR or -f - (stdin)\n"},
		{"apply takes no arguments", []string{"apply", "web.yaml"}, 1, "", "setlet: apply takes no arguments, got \"web.yaml\": use -f FILE\n"},
		{"apply of a missing file", []string{"apply", "-f", filepath.Join(dir, "nope.yaml"), "-f", empty}, 1, "",
			filepath.Join(dir, "nope.yaml") + ": cannot read: no such file or directory\n" + empty + ": no .yaml, .yml or .json files in this directory\n"},
		{"apply with a bad --dry-run", []string{"apply", "-f", manifest, "--dry-run=maybe"}, 1, "",
			"setlet: invalid boolean value \"maybe\" for -dry-run: use server, client or none\n"},
		{"apply -n elsewhere", []string{"apply", "-f", manifest, "-n", "prod"}, 1, "",
			"setlet: apply -f takes each object's namespace from its manifest (metadata.namespace); -n prod cannot override it\n"},
		{"apply -n default is fine", []string{"-n", "default", "apply", "-f", manifest}, 1, "", unreachable},

		// delete
		{"delete -f", []string{"delete", "-f", manifest}, 1, "", unreachable},
		{"delete set", []string{"delete", "set", "web"}, 1, "", unreachable},
		{"delete pod", []string{"delete", "pod", "web-0", "-n", "prod"}, 1, "", unreachable},
		{"delete sts/web", []string{"delete", "sts/web"}, 1, "", unreachable},
		{"delete needs something", []string{"delete"}, 1, "", "setlet: delete needs -f FILE, set NAME, pod NAME or volume NAME\n"},
		{"delete needs a name", []string{"delete", "pods"}, 1, "", "setlet: delete pods needs a NAME\n"},
		{"delete volume", []string{"delete", "pvc", "www-web-0"}, 1, "", unreachable},
		{"delete of services", []string{"delete", "svc", "nginx"}, 1, "",
			"setlet: delete services: only sets, pods and volumes can be deleted by name (services, ConfigMaps and Secrets with delete -f)\n"},
		{"delete -f and names", []string{"delete", "-f", manifest, "set", "web"}, 1, "",
			"setlet: delete -f takes no arguments, got \"set\": give either -f FILE or TYPE NAME\n"},

		// get
		{"get pods", []string{"get", "pods"}, 1, "", unreachable},
		{"get with flags after the type", []string{"get", "sts", "web", "-o", "wide", "-w"}, 1, "", unreachable},
		{"get -A", []string{"get", "ev", "-A", "-o", "json"}, 1, "", unreachable},
		{"get needs a type", []string{"get"}, 1, "", "setlet: get needs a resource type: sets, pods, volumes, services, events or revisions\n"},
		{"get of an unknown type", []string{"get", "deployments"}, 1, "",
			"setlet: unknown resource type \"deployments\": use sets, pods, volumes, services, events or revisions\n"},
		{"get -o xml", []string{"get", "pods", "-o", "xml"}, 1, "", "setlet: unsupported output format \"xml\": use wide, json, yaml or name\n"},
		{"get -w of services", []string{"get", "svc", "-w"}, 1, "",
			"setlet: get services -w: the daemon cannot stream services changes; only sets, pods, volumes and events can be watched\n"},
		{"get a name across namespaces", []string{"get", "pods", "web-0", "-A"}, 1, "",
			"setlet: a resource cannot be retrieved by name across all namespaces\n"},
		{"an unknown flag", []string{"get", "pods", "--colour"}, 1, "", "setlet: flag provided but not defined: -colour\n"},
		{"a flag without its value", []string{"get", "pods", "-o"}, 1, "", "setlet: flag needs an argument: -o\n"},

		// describe
		{"describe set", []string{"describe", "set", "web"}, 1, "", unreachable},
		{"describe pod", []string{"describe", "pod/web-0"}, 1, "", unreachable},
		{"describe needs a name", []string{"describe", "pod"}, 1, "", "setlet: describe pods needs a NAME\n"},
		{"describe of services", []string{"describe", "svc", "nginx"}, 1, "", "setlet: describe services: only sets and pods can be described; use get services\n"},

		// logs
		{"logs", []string{"logs", "web-0"}, 1, "", unreachable},
		{"logs with every flag", []string{"logs", "-f", "web-0", "-c", "web", "--tail", "10", "--previous", "--timestamps"}, 1, "", unreachable},
		{"logs needs a pod", []string{"logs"}, 1, "", "setlet: logs needs a POD\n"},
		{"logs takes one pod", []string{"logs", "a", "b", "c"}, 1, "", "setlet: logs takes POD [CONTAINER], got 3 arguments\n"},
		{"logs of a set", []string{"logs", "sts/web"}, 1, "", "setlet: logs sts/web: only pods have logs\n"},
		{"logs --tail -2", []string{"logs", "web-0", "--tail", "-2"}, 1, "", "setlet: --tail -2: must be -1 (all) or more\n"},
		{"logs --tail x", []string{"logs", "web-0", "--tail", "x"}, 1, "", "setlet: invalid value \"x\" for flag -tail: parse error\n"},

		// exec
		{"exec", []string{"exec", "web-0", "--", "cat", "/www/index.html"}, 1, "", unreachable},
		{"exec -it without a terminal", []string{"exec", "-it", "web-0", "--", "sh"}, 1, "",
			"Unable to use a TTY - input is not a terminal or the right kind of file\n" + unreachable},
		{"exec with flags after the pod", []string{"exec", "web-0", "-c", "web", "-i", "--", "sh", "-c", "ls -l"}, 1, "", unreachable},
		{"exec needs a pod", []string{"exec"}, 1, "", "setlet: exec needs a POD and a COMMAND: exec POD -- COMMAND [ARG...]\n"},
		{"exec needs a command", []string{"exec", "web-0"}, 1, "", "setlet: exec web-0 needs a COMMAND: exec web-0 -- COMMAND [ARG...]\n"},

		// scale
		{"scale", []string{"scale", "set", "web", "--replicas", "5"}, 1, "", unreachable},
		{"scale to zero", []string{"scale", "sts/web", "--replicas=0"}, 1, "", unreachable},
		{"scale needs --replicas", []string{"scale", "set", "web"}, 1, "", "setlet: scale needs --replicas N\n"},
		{"scale below zero", []string{"scale", "set", "web", "--replicas", "-1"}, 1, "", "setlet: --replicas -1: must be between 0 and 2147483647\n"},
		{"scale of pods", []string{"scale", "pod", "web-0", "--replicas", "2"}, 1, "", "setlet: scale pods: only sets can be scaled\n"},
		{"scale of two sets", []string{"scale", "set", "a", "b", "--replicas", "2"}, 1, "", "setlet: scale needs one set NAME: scale set NAME --replicas N\n"},

		// image
		{"image import", []string{"image", "import", archive}, 1, "", unreachable},
		{"image import from stdin", []string{"images", "import", "-"}, 1, "", unreachable},
		{"image import of a missing file", []string{"image", "import", filepath.Join(dir, "nope.tar")}, 1, "",
			"setlet: " + filepath.Join(dir, "nope.tar") + ": cannot read: no such file or directory\n"},
		{"image import needs a file", []string{"image", "import"}, 1, "", "setlet: image import needs a FILE (an OCI or docker-save archive) or - for stdin\n"},
		{"image ls", []string{"image", "ls"}, 1, "", unreachable},
		{"image list -o json", []string{"image", "list", "-o", "json"}, 1, "", unreachable},
		{"image ls -o yaml", []string{"image", "ls", "-o", "yaml"}, 1, "", "setlet: unsupported output format \"yaml\": use json\n"},
		{"image pull", []string{"image", "pull", "docker.io/library/busybox:1.36"}, 1, "", unreachable},
		{"image pull needs a ref", []string{"image", "pull"}, 1, "", "setlet: image pull needs one image REF, e.g. docker.io/library/busybox:1.36\n"},
		{"image needs a command", []string{"image"}, 1, "", "setlet: image needs a command: import, ls or pull\n"},
		{"an unknown image command", []string{"image", "rm", "x"}, 1, "", "setlet: unknown image command \"rm\": use import, ls or pull\n"},

		// version
		{"version", []string{"version"}, 1, "Client Version: dev\n", unreachable},
		{"version --client", []string{"version", "--client"}, 0, "Client Version: dev\n", ""},
		{"version --client -o json", []string{"version", "--client", "-o", "json"}, 0, "{\n    \"clientVersion\": \"dev\"\n}\n", ""},
		{"version -o yaml", []string{"version", "-o", "yaml"}, 1, "clientVersion: dev\n", unreachable},
		{"version -o xml", []string{"version", "-o", "xml"}, 1, "", "setlet: unsupported output format \"xml\": use json or yaml\n"},

		// the app
		{"an unknown command", []string{"frobnicate"}, 1, "", "setlet: unknown command \"frobnicate\" for \"setlet\": see setlet --help\n"},
		{"an unknown global flag", []string{"--frob", "get", "pods"}, 1, "", "setlet: flag provided but not defined: -frob\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"setlet", "--socket", socket}, tt.args...)
			code := Main(args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout = %q\nwant     %q", stdout.String(), tt.wantStdout)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr = %q\nwant     %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestSocketFromEnvironment checks SETLET_SOCKET, and that --socket wins
// over it, before or after the command.
func TestSocketFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	fromEnv, fromFlag := filepath.Join(dir, "env.sock"), filepath.Join(dir, "flag.sock")
	t.Setenv(EnvSocket, fromEnv)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"setlet", "get", "pods"}, fromEnv},
		{[]string{"setlet", "--socket", fromFlag, "get", "pods"}, fromFlag},
		{[]string{"setlet", "get", "pods", "--socket", fromFlag}, fromFlag},
	} {
		var stderr bytes.Buffer
		if code := Main(tt.args, strings.NewReader(""), &bytes.Buffer{}, &stderr); code != 1 {
			t.Errorf("%v: exit code %d", tt.args, code)
		}
		if !strings.Contains(stderr.String(), "cannot reach the setlet daemon at "+tt.want+":") {
			t.Errorf("%v: stderr = %q, want the socket %s", tt.args, stderr.String(), tt.want)
		}
	}
}

// TestHelp checks that help goes to stdout and exits 0, also with a
// resource type before -h.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"get", "--help"}, {"get", "pods", "-h"}, {"exec", "-h"}, {"image", "ls", "-h"}} {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"setlet"}, args...), strings.NewReader(""), &stdout, &stderr)
		if code != 0 || !strings.Contains(stdout.String(), "USAGE:") || stderr.Len() != 0 {
			t.Errorf("%v: exit code %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}

// TestExitCode checks how Main turns an error into output and an exit
// code: the remote command's code for exec, kubectl's lines as they are.
func TestExitCode(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   int
		wantStderr string
	}{
		{"success", nil, 0, ""},
		{"an error", errors.New("boom"), 1, "setlet: boom\n"},
		{"already reported", errSilent, 1, ""},
		{"a remote exit code", &exitError{code: 3, msg: "command terminated with exit code 3"}, 3, "command terminated with exit code 3\n"},
		{"a wrapped kubectl line", fmt.Errorf("x: %w", &exitError{code: 1, msg: `Error from server (NotFound): pods "web-9" not found`}), 1,
			"Error from server (NotFound): pods \"web-9\" not found\n"},
		{"an interrupted exec", &exitError{code: 130}, 130, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := exitCode(tt.err, &stderr); code != tt.wantCode || stderr.String() != tt.wantStderr {
				t.Errorf("exitCode = %d, stderr %q; want %d, %q", code, stderr.String(), tt.wantCode, tt.wantStderr)
			}
		})
	}
}

// TestResultLines checks apply's and delete's kubectl lines.
func TestResultLines(t *testing.T) {
	results := []api.ObjectResult{
		{Kind: "Service", Namespace: "default", Name: "nginx", Action: "unchanged"},
		{Kind: "StatefulSet", Namespace: "default", Name: "web", Action: "created"},
		{Kind: "ConfigMap", Namespace: "default", Name: "conf", Action: "configured"},
	}
	var out bytes.Buffer
	printApplyResults(&out, results, " (server dry run)")
	want := "service/nginx unchanged (server dry run)\nstatefulset.apps/web created (server dry run)\nconfigmap/conf configured (server dry run)\n"
	if out.String() != want {
		t.Errorf("apply lines:\n%s\nwant:\n%s", out.String(), want)
	}

	var stdout, stderr bytes.Buffer
	missing := printDeleteResults(&stdout, &stderr, []api.ObjectResult{
		{Kind: "Service", Name: "nginx", Action: "deleted"},
		{Kind: "StatefulSet", Name: "web", Action: "not found"},
		{Kind: "Secret", Name: "pw", Action: "deleted"},
	})
	if !missing || stdout.String() != "service \"nginx\" deleted\nsecret \"pw\" deleted\n" ||
		stderr.String() != "Error from server (NotFound): statefulsets.apps \"web\" not found\n" {
		t.Errorf("delete lines: missing %v\nstdout %q\nstderr %q", missing, stdout.String(), stderr.String())
	}
}

// TestImageTable checks image ls's table.
func TestImageTable(t *testing.T) {
	imgs := []api.Image{
		{Name: "setlet.local/busybox:1", Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Size: 1258291, Created: testNow.Add(-50 * time.Hour).Format(time.RFC3339)},
		{Name: "docker.io/library/nginx:1.22.1", Digest: "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", Size: 57 << 20},
	}
	var out bytes.Buffer
	if err := printImages(&out, imgs, false, testNow); err != nil {
		t.Fatal(err)
	}
	want := `IMAGE                            DIGEST                SIZE       CREATED
setlet.local/busybox:1           sha256:0123456789ab   1.2 MiB    2d2h ago
docker.io/library/nginx:1.22.1   sha256:fedcba987654   57.0 MiB   <unknown>
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	_ = printImages(&out, imgs[:1], true, testNow)
	if !strings.Contains(out.String(), imgs[0].Digest) {
		t.Errorf("--no-trunc cut the digest:\n%s", out.String())
	}
}

// TestVersionLines checks version's lines with a daemon's answer.
func TestVersionLines(t *testing.T) {
	var out bytes.Buffer
	printVersion(&out, versionOutput{ClientVersion: "v0.1.0", Daemon: &api.VersionInfo{
		Version: "v0.1.0", Containerd: "1.7.24", Namespace: "setlet", Network: "setlet0 10.88.0.0/16",
		DNS: []string{"10.88.0.1:53", "127.0.0.1:1053"}}})
	want := "Client Version: v0.1.0\nDaemon Version: v0.1.0\ncontainerd Version: 1.7.24\ncontainerd Namespace: setlet\nNetwork: setlet0 10.88.0.0/16\n" +
		"DNS: 10.88.0.1:53, 127.0.0.1:1053\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
