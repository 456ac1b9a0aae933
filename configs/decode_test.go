package configs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/setlet/setlet/configs"
)

const configMapDoc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n"

func cm(name string) string { return strings.Replace(configMapDoc, "%s", name, 1) }

// problemStrings renders the problems of err, failing if err is not a
// *configs.Error.
func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var cerr *configs.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %v is not a *configs.Error", err)
	}
	var out []string
	for _, p := range cerr.Problems {
		out = append(out, p.String())
	}
	if cerr.Error() != strings.Join(out, "\n") {
		t.Errorf("Error() = %q, want the problems one per line", cerr.Error())
	}
	return out
}

// TestDecodeDocuments covers how a source is cut into documents and how
// documents are counted and named.
func TestDecodeDocuments(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		wantNames []string // Document.String() of each decoded document
		wantProbs []string
	}{
		{"one document", cm("a"), []string{"m.yaml doc 1 (ConfigMap a)"}, nil},
		{"separators, comments and empty documents are not counted",
			"# header\n---\n" + cm("a") + "--- # second\n\n---\n" + cm("b") + "---\n",
			[]string{"m.yaml doc 1 (ConfigMap a)", "m.yaml doc 2 (ConfigMap b)"}, nil},
		{"a byte order mark is ignored", "\xef\xbb\xbf" + cm("a"), []string{"m.yaml doc 1 (ConfigMap a)"}, nil},
		{"CRLF line ends", strings.ReplaceAll(cm("a")+"---\n"+cm("b"), "\n", "\r\n"),
			[]string{"m.yaml doc 1 (ConfigMap a)", "m.yaml doc 2 (ConfigMap b)"}, nil},
		{"--- inside a block scalar is not a separator only when indented",
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: |\n    ---\n    y\n",
			[]string{"m.yaml doc 1 (ConfigMap a)"}, nil},
		{"JSON documents", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`,
			[]string{"m.yaml doc 1 (ConfigMap a)"}, nil},
		{"a List is expanded into items",
			"apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(cm("a"), "\n"), "\n", "\n  ") + "\n- " + strings.ReplaceAll(strings.TrimSuffix(cm("b"), "\n"), "\n", "\n  ") + "\n",
			[]string{"m.yaml doc 1 item 1 (ConfigMap a)", "m.yaml doc 1 item 2 (ConfigMap b)"}, nil},
		{"an empty List is an error", "apiVersion: v1\nkind: List\nitems: []\n",
			[]string{"m.yaml doc 1 (List)"}, []string{"m.yaml doc 1 (List): items: Required value: the List holds no objects"}},
		{"a List of another apiVersion", "apiVersion: v2\nkind: List\nitems: []\n",
			[]string{"m.yaml doc 1 (List)"}, []string{`m.yaml doc 1 (List): apiVersion: Unsupported value: "v2": supported values: "v1"`}},
		{"a List with unknown fields", "apiVersion: v1\nkind: List\nitem: []\n",
			[]string{"m.yaml doc 1 (List)"}, []string{`m.yaml doc 1 (List): item: unknown field (did you mean "items"?)`}},
		{"Lists do not nest", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n",
			[]string{"m.yaml doc 1 item 1 (List)"}, []string{`m.yaml doc 1 item 1 (List): kind: Unsupported value: "List": supported values: "ConfigMap", "Secret", "Service", "StatefulSet", "List"`}},
		{"no objects at all", "# nothing\n---\n", nil, []string{"m.yaml: no objects found"}},
		{"YAML errors give the line in the file", cm("a") + "---\n" + "apiVersion: v1\nkind: ConfigMap\n metadata: x\n",
			[]string{"m.yaml doc 1 (ConfigMap a)", "m.yaml doc 2"}, []string{"m.yaml doc 2: yaml: line 8: mapping values are not allowed in this context"}},
		{"missing apiVersion", "kind: ConfigMap\nmetadata:\n  name: a\n",
			[]string{"m.yaml doc 1 (ConfigMap a)"}, []string{"m.yaml doc 1 (ConfigMap a): apiVersion: Required value"}},
		{"a wrongly typed value is reported once, not again by validation",
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: [x]\n",
			[]string{"m.yaml doc 1 (ConfigMap a)"}, []string{"m.yaml doc 1 (ConfigMap a): metadata.labels: Invalid value: must be an object"}},
		{"wrong JSON types everywhere",
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  generation: 1.5\nimmutable: \"yes\"\ndata: [1]\n",
			[]string{"m.yaml doc 1 (Secret a)"},
			[]string{
				`m.yaml doc 1 (Secret a): data: Invalid value: must be an object`,
				`m.yaml doc 1 (Secret a): immutable: Invalid value: "yes": must be a boolean (true or false)`,
				`m.yaml doc 1 (Secret a): metadata.generation: Invalid value: 1.5: must be a 64-bit integer`,
			}},
		{"base64 data must be a string", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\ndata:\n  k: 5\n",
			[]string{"m.yaml doc 1 (Secret a)"}, []string{"m.yaml doc 1 (Secret a): data[k]: Invalid value: 5: must be a base64-encoded string"}},
		{"lists and strings of the wrong type", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  clusterIP: None\n  ports: {port: 80}\n  selector:\n    app: 7\n",
			[]string{"m.yaml doc 1 (Service a)"},
			[]string{
				"m.yaml doc 1 (Service a): spec.ports: Invalid value: must be a list",
				"m.yaml doc 1 (Service a): spec.selector[app]: Invalid value: 7: must be a string",
			}},
		{"int-or-string and times", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  creationTimestamp: yesterday\nspec:\n  clusterIP: None\n  ports:\n  - port: 80\n    targetPort: true\n",
			[]string{"m.yaml doc 1 (Service a)"},
			[]string{
				`m.yaml doc 1 (Service a): metadata.creationTimestamp: Invalid value: "yesterday": must be an RFC 3339 time such as 2006-01-02T15:04:05Z`,
				"m.yaml doc 1 (Service a): spec.ports[0].targetPort: Invalid value: true: must be an integer or a string",
			}},
		{"32-bit fields refuse bigger numbers", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  clusterIP: None\n  ports:\n  - port: 4294967296\n",
			[]string{"m.yaml doc 1 (Service a)"},
			[]string{"m.yaml doc 1 (Service a): spec.ports[0].port: Invalid value: 4294967296: must be a 32-bit integer"}},
		{"the same object twice in one request", cm("a") + "---\n" + cm("a"),
			[]string{"m.yaml doc 1 (ConfigMap a)", "m.yaml doc 2 (ConfigMap a)"},
			[]string{`m.yaml doc 2 (ConfigMap a): metadata.name: Duplicate value: "a": ConfigMap default/a is already defined by m.yaml doc 1 (ConfigMap a)`}},
		{"the same name in two namespaces is fine for other kinds", cm("a") + "---\n" + strings.Replace(cm("a"), "  name: a\n", "  name: a\n  namespace: other\n", 1),
			[]string{"m.yaml doc 1 (ConfigMap a)", "m.yaml doc 2 (ConfigMap a)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := configs.Decode("m.yaml", []byte(tt.data))
			var names []string
			for _, d := range docs {
				names = append(names, d.String())
			}
			if strings.Join(names, "|") != strings.Join(tt.wantNames, "|") {
				t.Errorf("documents = %q, want %q", names, tt.wantNames)
			}
			got := problemStrings(t, err)
			if strings.Join(got, "\n") != strings.Join(tt.wantProbs, "\n") {
				t.Errorf("problems differ\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.wantProbs, "\n      "))
			}
		})
	}
}

// TestDecodeStatefulSetNamesUniqueOnHost checks that two StatefulSets of one
// name are refused even in different namespaces: pod names are host names.
func TestDecodeStatefulSetNamesUniqueOnHost(t *testing.T) {
	data, err := os.ReadFile("testdata/valid/seed-web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, set, ok := strings.Cut(string(data), "---\n")
	if !ok {
		t.Fatal("seed-web.yaml has no second document")
	}
	other := strings.Replace(set, "metadata:\n  name: web\n", "metadata:\n  name: web\n  namespace: staging\n", 1)
	_, err = configs.Decode("two.yaml", []byte(string(data)+"\n---\n"+other))
	got := problemStrings(t, err)
	want := `two.yaml doc 3 (StatefulSet web): metadata.name: Duplicate value: "web": two.yaml doc 2 (StatefulSet web) defines a StatefulSet of this name in namespace "default"; set names must be unique on a host, because pod names are host names`
	if len(got) != 1 || got[0] != want {
		t.Errorf("problems = %q\nwant %q", got, want)
	}
}

// TestLoad covers files, directories, stdin and read errors.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("manifests/b.yaml", cm("b"))
	write("manifests/a.yml", cm("a"))
	write("manifests/c.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)
	write("manifests/notes.txt", "not a manifest")
	write("manifests/sub/d.yaml", cm("d"))
	write("empty/readme.md", "nothing")
	broken := write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad\n")
	single := write("single.yaml", cm("s"))

	tests := []struct {
		name      string
		paths     []string
		stdin     string
		wantNames []string
		wantProbs []string
	}{
		{"a directory: its manifests in name order, not recursing", []string{filepath.Join(dir, "manifests")}, "",
			[]string{"a.yml doc 1 (ConfigMap a)", "b.yaml doc 1 (ConfigMap b)", "c.json doc 1 (ConfigMap c)"}, nil},
		{"stdin", []string{"-"}, cm("x"), []string{"<stdin> doc 1 (ConfigMap x)"}, nil},
		{"files and stdin together", []string{single, "-"}, cm("x"), []string{"single.yaml doc 1 (ConfigMap s)", "<stdin> doc 1 (ConfigMap x)"}, nil},
		{"a missing file", []string{filepath.Join(dir, "nope.yaml")}, "", nil, []string{"nope.yaml: cannot read: no such file or directory"}},
		{"a directory without manifests", []string{filepath.Join(dir, "empty")}, "", nil, []string{"empty: no .yaml, .yml or .json files in this directory"}},
		{"problems of every source, in order", []string{broken, filepath.Join(dir, "nope.yaml"), single}, "",
			[]string{"broken.yaml doc 1 (ConfigMap Bad)", "single.yaml doc 1 (ConfigMap s)"},
			[]string{
				`broken.yaml doc 1 (ConfigMap Bad): metadata.name: Invalid value: "Bad": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
				"nope.yaml: cannot read: no such file or directory",
			}},
		{"nothing given", nil, "", nil, []string{"-f: no manifest given"}},
		{"stdin too large", []string{"-"}, strings.Repeat("#", configs.MaxSourceBytes+1), nil, []string{"<stdin>: larger than 16 MiB: not a manifest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := configs.Load(tt.paths, strings.NewReader(tt.stdin))
			var names []string
			for _, d := range docs {
				names = append(names, filepath.Base(d.String()))
			}
			if strings.Join(names, "|") != strings.Join(tt.wantNames, "|") {
				t.Errorf("documents = %q, want %q", names, tt.wantNames)
			}
			var got []string
			for _, p := range problemStrings(t, err) {
				got = append(got, strings.TrimPrefix(p, dir+string(filepath.Separator)))
			}
			for i := range got {
				got[i] = strings.TrimPrefix(got[i], filepath.Join(dir, "manifests")+string(filepath.Separator))
				if strings.HasPrefix(got[i], dir) {
					got[i] = filepath.Base(got[i])
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantProbs, "\n") {
				t.Errorf("problems differ\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.wantProbs, "\n      "))
			}
		})
	}
}

// TestDecodeTooLarge refuses sources far beyond any manifest.
func TestDecodeTooLarge(t *testing.T) {
	_, err := configs.Decode("big.yaml", make([]byte, configs.MaxSourceBytes+1))
	got := problemStrings(t, err)
	if len(got) != 1 || got[0] != "big.yaml: larger than 16 MiB: not a manifest" {
		t.Errorf("problems = %q", got)
	}
}

// TestKindOf names the supported kinds from their Go types.
func TestKindOf(t *testing.T) {
	docs, err := configs.Decode("full.yaml", []byte(fullManifest(t)))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range docs {
		kinds = append(kinds, configs.KindOf(d.Object))
		if configs.KindOf(d.Object) != d.Kind {
			t.Errorf("KindOf(%s) = %q, want %q", d.String(), configs.KindOf(d.Object), d.Kind)
		}
	}
	if got := strings.Join(kinds, ","); got != "Service,ConfigMap,Secret,StatefulSet" {
		t.Errorf("kinds = %s", got)
	}
	if k := configs.KindOf(&appsv1.Deployment{}); k != "" {
		t.Errorf("KindOf(Deployment) = %q, want empty", k)
	}
}

// TestDecodeSources decodes several sources as one request.
func TestDecodeSources(t *testing.T) {
	docs, err := configs.DecodeSources([]configs.Source{
		{Name: "a.yaml", Data: []byte(cm("a"))},
		{Name: "b.yaml", Data: []byte(cm("b") + "---\n" + cm("a"))},
		{Name: "big.yaml", Data: make([]byte, configs.MaxSourceBytes+1)},
	})
	if len(docs) != 3 {
		t.Fatalf("docs = %d, want 3", len(docs))
	}
	got := problemStrings(t, err)
	want := []string{
		`b.yaml doc 2 (ConfigMap a): metadata.name: Duplicate value: "a": ConfigMap default/a is already defined by a.yaml doc 1 (ConfigMap a)`,
		"big.yaml: larger than 16 MiB: not a manifest",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems = %q", got)
	}
	if _, err := configs.DecodeSources(nil); err == nil {
		t.Error("no sources must be an error")
	}
}
