package configs_test

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/setlet/setlet/configs"
)

// BenchmarkDecode measures decoding, defaulting and validating manifests:
// the seed article's StatefulSet and the every-field manifest. Its baseline
// is BenchmarkRawYAML.
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"seed-web.yaml", "full.yaml"} {
		data, err := os.ReadFile("testdata/valid/" + name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := configs.Decode(name, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawYAML is the baseline of BenchmarkDecode: the same documents
// decoded by sigs.k8s.io/yaml into their Go types, with no strict checking,
// defaulting or validation.
func BenchmarkRawYAML(b *testing.B) {
	for _, name := range []string{"seed-web.yaml", "full.yaml"} {
		data, err := os.ReadFile("testdata/valid/" + name)
		if err != nil {
			b.Fatal(err)
		}
		docs, err := configs.Decode(name, data)
		if err != nil {
			b.Fatal(err)
		}
		var parts [][]byte
		for _, part := range strings.Split(string(data), "\n---\n") {
			parts = append(parts, []byte(part))
		}
		if len(parts) != len(docs) {
			b.Fatalf("%s: %d parts, %d documents", name, len(parts), len(docs))
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for i, part := range parts {
					obj := configs.NewObject(docs[i].Kind)
					if err := yaml.Unmarshal(part, obj); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
