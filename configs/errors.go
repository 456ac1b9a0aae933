package configs

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Problem is one thing wrong with a manifest: where it is (source,
// document, object, field path) and what is wrong.
type Problem struct {
	// Source is the file the document came from, or "<stdin>".
	Source string `json:"source"`
	// Index is the 1-based position of the document among the non-empty
	// documents of Source; 0 when the problem concerns the whole source.
	Index int `json:"index,omitempty"`
	// Item is the 1-based position inside a v1 List document; 0 otherwise.
	Item int `json:"item,omitempty"`
	// Kind and Name identify the object when they could be read.
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	// Field is the field path, e.g. spec.template.spec.containers[0].image;
	// empty when the problem is not about one field (a YAML syntax error).
	Field string `json:"field,omitempty"`
	// Message says what is wrong, e.g. `Unsupported value: "Sometimes"`.
	Message string `json:"message"`
}

// String renders the problem as one line:
//
//	web.yaml doc 2 (StatefulSet web): spec.replicas: Invalid value: -1: must be greater than or equal to 0
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(location(p.Source, p.Index, p.Item, p.Kind, p.Name))
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// location names a document the way every message of this package does:
// `web.yaml doc 2 (StatefulSet web)`, `all.json doc 1 item 3 (Service db)`.
func location(source string, index, item int, kind, name string) string {
	var b strings.Builder
	b.WriteString(source)
	if index > 0 {
		b.WriteString(" doc ")
		b.WriteString(itoa(index))
	}
	if item > 0 {
		b.WriteString(" item ")
		b.WriteString(itoa(item))
	}
	switch {
	case kind != "" && name != "":
		b.WriteString(" (" + kind + " " + name + ")")
	case kind != "":
		b.WriteString(" (" + kind + ")")
	}
	return b.String()
}

// Error is returned by Load and Decode when any document has a problem. It
// lists every problem of every document, in source and document order.
type Error struct {
	Problems []Problem
}

// Error returns the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// fieldProblem turns a Kubernetes field error into a Problem of doc.
func fieldProblem(doc *Document, e *field.Error) Problem {
	return doc.problem(e.Field, e.ErrorBody())
}
