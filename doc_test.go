package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs fails when a package of the module has no package doc
// comment, or when a top-level folder DESIGN.md lists is missing: each
// package says in doc.go what it owns and what it must not import.
func TestPackageDocs(t *testing.T) {
	want := []string{"cli", "configs", "daemon", "dns", "network", "runtime", "storage"}
	for _, dir := range want {
		t.Run(dir, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(dir, "*.go"))
			if err != nil || len(files) == 0 {
				t.Fatalf("folder %s holds no Go files", dir)
			}
			fset := token.NewFileSet()
			documented := false
			for _, name := range files {
				if strings.HasSuffix(name, "_test.go") {
					continue
				}
				f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.PackageClauseOnly)
				if err != nil {
					t.Fatalf("parsing %s: %v", name, err)
				}
				if f.Name.Name != dir {
					t.Errorf("%s is package %s, want %s", name, f.Name.Name, dir)
				}
				if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+dir+" ") {
					documented = true
					if !strings.HasSuffix(name, "doc.go") {
						t.Errorf("package doc of %s is in %s, want doc.go", dir, name)
					}
				}
			}
			if !documented {
				t.Errorf("package %s has no doc comment starting %q", dir, "Package "+dir)
			}
		})
	}
}
