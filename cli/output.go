package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// Output formats of -o.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputName  = "name"
)

// checkOutput refuses an output format get does not know.
func checkOutput(format string) error {
	switch format {
	case outputTable, outputWide, outputJSON, outputYAML, outputName:
		return nil
	}
	return fmt.Errorf("unsupported output format %q: use wide, json, yaml or name", format)
}

// tableWriter prints tables as kubectl does: columns padded to their
// widest cell plus three spaces (at least six), the last column not
// padded. Widths are remembered across flushes, as kubectl's tab writer
// does in a watch, so that rows added later line up with the table above.
type tableWriter struct {
	out    io.Writer
	widths []int
	rows   [][]string
}

func newTableWriter(out io.Writer) *tableWriter {
	return &tableWriter{out: out}
}

// Table layout, as kubectl's printers.GetNewTabWriter.
const (
	tableMinWidth = 6
	tablePadding  = 3
)

// writeRow adds one row. A cell is cut at its first line break, marked
// "...", as kubectl does, so that a row stays one line.
func writeRow(t *tableWriter, cells []string) {
	row := make([]string, len(cells))
	for i, cell := range cells {
		if cut := strings.IndexAny(cell, "\f\n\r"); cut >= 0 {
			cell = cell[:cut] + "..."
		}
		row[i] = strings.ReplaceAll(cell, "\t", " ")
	}
	t.rows = append(t.rows, row)
}

// flush writes the rows added since the last flush.
func (t *tableWriter) flush() error {
	for _, row := range t.rows {
		for i := range len(row) - 1 {
			w := max(tableMinWidth, utf8.RuneCountInString(row[i])+tablePadding)
			if i >= len(t.widths) {
				t.widths = append(t.widths, w)
			}
			t.widths[i] = max(t.widths[i], w)
		}
	}
	var b strings.Builder
	for _, row := range t.rows {
		for i, cell := range row {
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(cell)))
			}
		}
		b.WriteByte('\n')
	}
	t.rows = t.rows[:0]
	_, err := io.WriteString(t.out, b.String())
	return err
}

// objectPrinter prints objects of one resource kind in one output format,
// for a plain get (one batch) or a watch (a batch, then one object at a
// time). A table's header is printed once, before the first row.
type objectPrinter struct {
	res           resourceKind
	format        string
	allNamespaces bool
	opts          printOptions
	now           func() time.Time
	out           io.Writer
	table         *tableWriter
	headerDone    bool
	printed       int // objects printed as JSON or YAML, for YAML's "---"
}

func newObjectPrinter(res resourceKind, format string, allNamespaces bool, node string, now func() time.Time, out io.Writer) *objectPrinter {
	return &objectPrinter{
		res: res, format: format, allNamespaces: allNamespaces,
		opts: printOptions{Wide: format == outputWide, Node: node},
		now:  now, out: out, table: newTableWriter(out),
	}
}

// isTable reports whether the format is a table (plain or wide).
func (p *objectPrinter) isTable() bool {
	return p.format == outputTable || p.format == outputWide
}

// printBatch prints objs: as table rows, or as a List in JSON or YAML
// (one object alone when single, as kubectl prints `get pod NAME -o json`).
func (p *objectPrinter) printBatch(objs []object, single bool) error {
	switch p.format {
	case outputJSON, outputYAML:
		if single && len(objs) == 1 {
			return p.printObject(objs[0])
		}
		items := make([]any, 0, len(objs))
		for _, obj := range objs {
			m, err := toMap(withTypeMeta(p.res, obj))
			if err != nil {
				return err
			}
			items = append(items, m)
		}
		list := map[string]any{
			"apiVersion": "v1", "kind": "List", "items": items,
			"metadata": map[string]any{"resourceVersion": ""},
		}
		return p.encode(list)
	case outputName:
		for _, obj := range objs {
			fmt.Fprintf(p.out, "%s/%s\n", p.res.Singular, obj.GetName())
		}
		return nil
	}
	if len(objs) == 0 {
		return nil
	}
	p.header()
	now := p.now()
	for _, obj := range objs {
		p.row(obj, now)
	}
	return p.table.flush()
}

// printObject prints one object: a table row, or the object alone in JSON
// or YAML (YAML documents separated by "---", as kubectl does in a watch).
func (p *objectPrinter) printObject(obj object) error {
	switch p.format {
	case outputJSON, outputYAML:
		m, err := toMap(withTypeMeta(p.res, obj))
		if err != nil {
			return err
		}
		return p.encode(m)
	case outputName:
		return p.printBatch([]object{obj}, false)
	}
	p.header()
	p.row(obj, p.now())
	return p.table.flush()
}

func (p *objectPrinter) header() {
	if p.headerDone {
		return
	}
	p.headerDone = true
	cols := p.res.columns(p.opts.Wide)
	if p.allNamespaces {
		cols = append([]string{"NAMESPACE"}, cols...)
	}
	writeRow(p.table, cols)
}

func (p *objectPrinter) row(obj object, now time.Time) {
	cells := p.res.row(obj, now, p.opts)
	if p.allNamespaces {
		cells = append([]string{obj.GetNamespace()}, cells...)
	}
	writeRow(p.table, cells)
}

// encode writes v as kubectl does: JSON indented by four spaces, or YAML.
func (p *objectPrinter) encode(v any) error {
	p.printed++
	if p.format == outputYAML && p.printed > 1 {
		io.WriteString(p.out, "---\n")
	}
	_, err := writeEncoded(p.out, p.format, v)
	return err
}

// writeEncoded writes v as JSON (writeJSON) or YAML when format is one of
// them, and reports whether it was: any other format is the caller's.
func writeEncoded(w io.Writer, format string, v any) (bool, error) {
	switch format {
	case outputJSON:
		return true, writeJSON(w, v)
	case outputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, fmt.Errorf("writing YAML: %w", err)
		}
		_, err = w.Write(b)
		return true, err
	}
	return false, nil
}

// writeJSON writes v as indented JSON (four spaces, as kubectl), ending
// with a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// toMap turns a typed object into the generic map kubectl prints from, so
// that keys come out sorted as in kubectl's output; numbers keep their
// exact value.
func toMap(obj any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	return m, nil
}
