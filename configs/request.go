package configs

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkRequest reports problems that only show across the documents of one
// request: the same object defined twice, and two StatefulSets of one name
// in different namespaces (pod names are host names, network namespace and
// log directory names, so they must be unique on the host).
func checkRequest(docs []Document) {
	type key struct{ kind, namespace, name string }
	first := map[key]int{}
	setNames := map[string]int{}
	for i := range docs {
		d := &docs[i]
		if d.Object == nil || d.Name == "" {
			continue
		}
		namePath := field.NewPath("metadata", "name")
		k := key{d.Kind, d.Namespace, d.Name}
		if j, dup := first[k]; dup {
			d.Problems = append(d.Problems, fieldProblem(d, field.Duplicate(namePath, d.Name)).
				withDetail(fmt.Sprintf("%s %s/%s is already defined by %s", d.Kind, d.Namespace, d.Name, docs[j].String())))
			continue
		}
		first[k] = i
		if d.Kind != "StatefulSet" {
			continue
		}
		if j, dup := setNames[d.Name]; dup {
			d.Problems = append(d.Problems, fieldProblem(d, field.Duplicate(namePath, d.Name)).
				withDetail(fmt.Sprintf("%s defines a StatefulSet of this name in namespace %q; set names must be unique on a host, because pod names are host names", docs[j].String(), docs[j].Namespace)))
			continue
		}
		setNames[d.Name] = i
	}
}

// withDetail appends an explanation to a problem's message.
func (p Problem) withDetail(detail string) Problem {
	p.Message += ": " + detail
	return p
}
