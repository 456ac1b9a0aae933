package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateCommand runs `setlet validate` through the whole CLI and
// checks its output streams and exit code.
func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "web.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	seed, err := os.ReadFile("../configs/examples/seed-web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, seed, 0o644); err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(seed), "        image: nginx:1.22.1\n", "        image: nginx:1.22.1\n        imagePullPolicy: Sometimes\n", 1)
	if err := os.WriteFile(bad, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"good manifests print ok per object", []string{"validate", "-f", good}, "", 0,
			good + " doc 1 (Service nginx): ok\n" + good + " doc 2 (StatefulSet web): ok\n", ""},
		{"a problem goes to stderr with the field path and exits 1", []string{"validate", "-f", bad}, "", 1,
			bad + " doc 1 (Service nginx): ok\n",
			bad + ` doc 2 (StatefulSet web): spec.template.spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"` + "\n"},
		{"stdin with -f -", []string{"validate", "-f", "-"}, string(seed), 0,
			"<stdin> doc 1 (Service nginx): ok\n<stdin> doc 2 (StatefulSet web): ok\n", ""},
		{"-f is required", []string{"validate"}, "", 1, "", "setlet: validate needs -f FILE, -f DIR or -f - (stdin)\n"},
		{"arguments are refused", []string{"validate", "-f", good, "extra"}, "", 1, "", `setlet: validate takes no arguments, got "extra": use -f FILE` + "\n"},
		{"unknown output format", []string{"validate", "-f", good, "-o", "xml"}, "", 1, "", `setlet: unsupported output format "xml": use json` + "\n"},
		{"a missing file", []string{"validate", "-f", filepath.Join(dir, "nope.yaml")}, "", 1, "",
			filepath.Join(dir, "nope.yaml") + ": cannot read: no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"setlet"}, tt.args...), strings.NewReader(tt.stdin), &stdout, &stderr)
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

// TestValidateJSON checks the -o json contract: every object with its
// problems, and the exit code.
func TestValidateJSON(t *testing.T) {
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad\n"
	var stdout, stderr bytes.Buffer
	err := runValidate(validateOptions{Files: []string{"-"}, Output: "json"}, strings.NewReader(manifest), &stdout, &stderr)
	if err != errSilent {
		t.Fatalf("runValidate = %v, want errSilent", err)
	}
	var out struct {
		Objects []struct {
			Source, Kind, Name, Namespace string
			Index                         int
			OK                            bool
			Problems                      []struct{ Field, Message string }
		}
		Problems []struct{ Field, Message string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if len(out.Objects) != 2 || !out.Objects[0].OK || out.Objects[1].OK || out.Objects[1].Name != "Bad" || out.Objects[1].Namespace != "default" {
		t.Fatalf("objects = %+v", out.Objects)
	}
	if len(out.Problems) != 1 || out.Problems[0].Field != "metadata.name" || len(out.Objects[1].Problems) != 1 {
		t.Errorf("problems = %+v", out.Problems)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", stderr.String())
	}

	stdout.Reset()
	if err := runValidate(validateOptions{Files: []string{"-"}, Output: "json"}, strings.NewReader(manifest[:strings.Index(manifest, "---")]), &stdout, &stderr); err != nil {
		t.Fatalf("runValidate of a good manifest = %v", err)
	}
	if !strings.Contains(stdout.String(), `"problems": []`) {
		t.Errorf("a clean run must still list problems as []: %s", stdout.String())
	}
}

// TestVersion checks that the binary answers --version.
func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"setlet", "--version"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr.String())
	}
	if stdout.String() != "setlet version dev\n" {
		t.Errorf("stdout = %q", stdout.String())
	}
}
