package configs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/setlet/setlet/configs"
)

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic, must only
// fail with a *configs.Error, and whatever it accepts must survive a round
// trip: encoded back to YAML and decoded again, an accepted object is
// accepted again and unchanged (defaulting is idempotent, nothing is lost).
// The seed corpus is every manifest under testdata; `make fuzz` runs it.
func FuzzDecode(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*", "testdata/invalid/*.yaml", "testdata/invalid/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := configs.Decode("fuzz.yaml", data)
		var cerr *configs.Error
		if err != nil && !errors.As(err, &cerr) {
			t.Fatalf("Decode returned %T %v, want *configs.Error", err, err)
		}
		if err != nil {
			return
		}
		for _, d := range docs {
			if d.Object == nil {
				t.Fatalf("%s: accepted without an object", d.String())
			}
			y, err := yaml.Marshal(d.Object)
			if err != nil {
				t.Fatalf("%s: encoding: %v", d.String(), err)
			}
			again, err := configs.Decode("again.yaml", y)
			if err != nil {
				t.Fatalf("%s: re-decoding its own YAML failed: %v\n%s", d.String(), err, y)
			}
			if len(again) != 1 || !apiequality.Semantic.DeepEqual(again[0].Object, d.Object) {
				t.Fatalf("%s: changed in a round trip\n%s", d.String(), y)
			}
		}
	})
}
