package configs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/setlet/setlet/configs"
)

// TestValidCorpus decodes every manifest under testdata/valid, among them
// the seed articles' StatefulSets, and expects no problem at all.
func TestValidCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid corpus: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := configs.Decode(filepath.Base(file), data)
			if err != nil {
				t.Fatalf("unexpected problems:\n%v", err)
			}
			if len(docs) == 0 {
				t.Fatal("no documents decoded")
			}
			for _, d := range docs {
				if d.Object == nil {
					t.Errorf("%s: no object", d.String())
				}
			}
		})
	}
}

// TestInvalidCorpus decodes every broken manifest under testdata/invalid and
// compares the problems with the lines of its .want file, exactly: each
// names the file, the document, the object and the field path.
func TestInvalidCorpus(t *testing.T) {
	var files []string
	for _, pattern := range []string{"testdata/invalid/*.yaml", "testdata/invalid/*.json"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 30 {
		t.Fatalf("the broken-manifest corpus has %d files; keep at least 30", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			wantData, err := os.ReadFile(strings.TrimSuffix(file, filepath.Ext(file)) + ".want")
			if err != nil {
				t.Fatalf("missing expected messages: %v", err)
			}
			want := strings.Split(strings.TrimRight(string(wantData), "\n"), "\n")

			_, err = configs.Decode(filepath.Base(file), data)
			var cerr *configs.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Decode returned %v, want a *configs.Error", err)
			}
			var got []string
			for _, p := range cerr.Problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("problems differ\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			}
		})
	}
}
