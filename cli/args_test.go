package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestReorderArgs checks that flags may follow arguments, as with kubectl.
func TestReorderArgs(t *testing.T) {
	app := NewApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	tests := []struct{ in, want string }{
		{"get pods -o wide", "get -o wide -- pods"},
		{"get pods -n prod -w", "-n prod get -w -- pods"},
		{"--socket /s get pods web-0 -owide", "--socket /s get -owide -- pods web-0"},
		{"get pods --output=json --namespace=x", "--namespace=x get --output=json -- pods"},
		{"exec web-0 -it -- sh -c ls -l", "exec -i -t -- web-0 sh -c ls -l"},
		{"exec -c web web-0 -- cat -", "exec -c web -- web-0 cat -"},
		{"image import -", "image import -- -"},
		{"image ls -o json", "image ls -o json"},
		{"scale set web --replicas -1", "scale --replicas -1 -- set web"},
		{"apply -f web.yaml --dry-run", "apply -f web.yaml --dry-run"},
		{"apply -f - --dry-run=server", "apply -f - --dry-run=server"},
		{"logs web-0 --colour", "logs --colour -- web-0"},
		{"get pods -h", "get -h"},
		{"frobnicate -x y", "frobnicate -x y"},
		{"--version", "--version"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			out, err := reorderArgs(app, append([]string{"setlet"}, strings.Fields(tt.in)...))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(out[1:], " "); got != tt.want {
				t.Errorf("reorderArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestReorderArgsMissingValue checks that a value flag at the end is
// reported, not given "--" as its value.
func TestReorderArgsMissingValue(t *testing.T) {
	app := NewApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	for _, in := range []string{"get pods -o", "get pods -n", "logs web-0 --tail"} {
		_, err := reorderArgs(app, append([]string{"setlet"}, strings.Fields(in)...))
		want := "flag needs an argument: " + in[strings.LastIndex(in, " ")+1:]
		if err == nil || err.Error() != want {
			t.Errorf("reorderArgs(%q) = %v, want %s", in, err, want)
		}
	}
}
