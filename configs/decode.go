package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// MaxSourceBytes is the largest manifest source Load and Decode accept.
// The Kubernetes API server takes requests of at most 3 MiB; a file many
// times that size is a mistake, not a manifest.
const MaxSourceBytes = 16 << 20

// StdinSource is the source name of manifests read from standard input.
const StdinSource = "<stdin>"

// manifestExts are the file extensions Load reads from a directory, as
// kubectl does.
var manifestExts = []string{".json", ".yaml", ".yml"}

// Load reads, decodes, defaults and validates every manifest named by
// paths: a file, a directory (its .yaml, .yml and .json files in name
// order, not recursing) or "-" for stdin. It returns every decoded
// document. When anything is wrong, in any document or source, the error
// is an *Error listing every problem; the documents are still returned so
// that a caller can say which ones were fine. Load changes nothing.
func Load(paths []string, stdin io.Reader) ([]Document, error) {
	sources, problems := ReadSources(paths, stdin)
	var docs []Document
	names := make([]string, 0, len(sources)+len(problems))
	for _, src := range sources {
		names = append(names, src.Name)
		d, p := decodeSource(src.Name, src.Data)
		docs = append(docs, d...)
		problems = append(problems, p...)
	}
	for _, p := range problems {
		names = append(names, p.Source)
	}
	checkRequest(docs)
	return docs, collect(names, docs, problems)
}

// ReadSources reads the manifests named by paths without decoding them: a
// file, a directory's .yaml, .yml and .json files in name order (not
// recursing), or "-" for stdin (named StdinSource). A source that cannot
// be read is a Problem naming it; the others are returned. The CLI sends
// what it reads to the daemon, which decodes it with DecodeSources, so both
// name the same files.
func ReadSources(paths []string, stdin io.Reader) ([]Source, []Problem) {
	if len(paths) == 0 {
		return nil, []Problem{{Source: "-f", Message: "no manifest given"}}
	}
	var sources []Source
	var problems []Problem
	for _, path := range paths {
		if path == "-" {
			data, err := readLimited(stdin)
			if err != nil {
				problems = append(problems, Problem{Source: StdinSource, Message: err.Error()})
				continue
			}
			sources = append(sources, Source{Name: StdinSource, Data: data})
			continue
		}
		files, err := manifestFiles(path)
		if err != nil {
			problems = append(problems, Problem{Source: path, Message: err.Error()})
			continue
		}
		for _, file := range files {
			data, err := readFile(file)
			if err != nil {
				problems = append(problems, Problem{Source: file, Message: err.Error()})
				continue
			}
			sources = append(sources, Source{Name: file, Data: data})
		}
	}
	return sources, problems
}

// Decode decodes, defaults and validates every document of data, which
// came from source (a file name used in messages). Like Load, it returns
// every document and, when anything is wrong, an *Error with every problem.
func Decode(source string, data []byte) ([]Document, error) {
	if len(data) > MaxSourceBytes {
		return nil, &Error{Problems: []Problem{{Source: source, Message: tooLarge()}}}
	}
	docs, problems := decodeSource(source, data)
	checkRequest(docs)
	return docs, collect([]string{source}, docs, problems)
}

// Source is one manifest given by name (used in messages) and content.
type Source struct {
	Name string
	Data []byte
}

// DecodeSources decodes, defaults and validates several sources as one
// request, as Load does for files: problems across sources (an object
// defined twice) are found too. It returns every document and, when
// anything is wrong, an *Error with every problem.
func DecodeSources(sources []Source) ([]Document, error) {
	var docs []Document
	var problems []Problem
	names := make([]string, 0, len(sources))
	for _, src := range sources {
		names = append(names, src.Name)
		if len(src.Data) > MaxSourceBytes {
			problems = append(problems, Problem{Source: src.Name, Message: tooLarge()})
			continue
		}
		d, p := decodeSource(src.Name, src.Data)
		docs = append(docs, d...)
		problems = append(problems, p...)
	}
	if len(sources) == 0 {
		return nil, &Error{Problems: []Problem{{Source: "-f", Message: "no manifest given"}}}
	}
	checkRequest(docs)
	return docs, collect(names, docs, problems)
}

// collect gathers the source problems and the problems of docs into one
// *Error, or returns nil when there are none.
func collect(sources []string, docs []Document, sourceProblems []Problem) error {
	var problems []Problem
	for _, d := range docs {
		problems = append(problems, d.Problems...)
	}
	problems = append(problems, sourceProblems...)
	if len(problems) == 0 {
		return nil
	}
	// Sources keep the order they were given in; inside a source, problems
	// follow the documents.
	order := make(map[string]int, len(sources))
	for i, s := range sources {
		if _, ok := order[s]; !ok {
			order[s] = i
		}
	}
	sort.SliceStable(problems, func(i, j int) bool {
		a, b := problems[i], problems[j]
		if order[a.Source] != order[b.Source] {
			return order[a.Source] < order[b.Source]
		}
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.Item < b.Item
	})
	return &Error{Problems: problems}
}

// manifestFiles returns path itself for a file, or the manifest files of a
// directory.
func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", unwrapPathError(err))
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read directory: %w", unwrapPathError(err))
	}
	var files []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || !containsString(manifestExts, ext) {
			continue
		}
		files = append(files, filepath.Join(path, e.Name()))
	}
	if len(files) == 0 {
		return nil, errors.New("no .yaml, .yml or .json files in this directory")
	}
	return files, nil // os.ReadDir returns entries sorted by name
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", unwrapPathError(err))
	}
	defer f.Close()
	return readLimited(f)
}

// readLimited reads r to the end, refusing more than MaxSourceBytes.
func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", unwrapPathError(err))
	}
	if len(data) > MaxSourceBytes {
		return nil, errors.New(tooLarge())
	}
	return data, nil
}

func tooLarge() string {
	return fmt.Sprintf("larger than %d MiB: not a manifest", MaxSourceBytes>>20)
}

// unwrapPathError drops the path from an *os.PathError: every message of
// this package already starts with the source name.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// rawDocument is one YAML document of a source and the line it starts on.
type rawDocument struct {
	line int
	data []byte
}

// splitDocuments cuts a multi-document YAML stream at its "---" lines (a
// line starting with "---" followed by nothing but blanks or a comment, as
// k8s.io/apimachinery's YAML reader does), remembering where each starts.
func splitDocuments(data []byte) []rawDocument {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	var docs []rawDocument
	start, startLine, line := 0, 1, 1
	for pos := 0; pos <= len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += pos
		}
		text := data[pos:end]
		if isSeparator(text) {
			docs = append(docs, rawDocument{line: startLine, data: data[start:pos]})
			start, startLine = end+1, line+1
		}
		pos, line = end+1, line+1
	}
	if start < len(data) {
		docs = append(docs, rawDocument{line: startLine, data: data[start:]})
	}
	return docs
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

// decodeSource decodes every document of one source. Documents holding
// nothing (only blanks or comments) are skipped and not counted.
func decodeSource(source string, data []byte) ([]Document, []Problem) {
	var docs []Document
	index := 0
	for _, raw := range splitDocuments(data) {
		// Pad with the lines before the document so that YAML syntax errors
		// give line numbers of the file, not of the document.
		padded := append(bytes.Repeat([]byte("\n"), raw.line-1), raw.data...)
		js, err := yaml.YAMLToJSONStrict(padded)
		if err == nil && bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		index++
		doc := Document{Source: source, Index: index}
		if err != nil {
			doc.Problems = append(doc.Problems, doc.problem("", oneLine(err.Error())))
			docs = append(docs, doc)
			continue
		}
		docs = append(docs, decodeJSON(doc, js, true)...)
	}
	if len(docs) == 0 {
		return nil, []Problem{{Source: source, Message: "no objects found"}}
	}
	return docs, nil
}

// decodeJSON decodes one document given as JSON into doc's object, or into
// one document per item when it is a v1 List (allowList).
func decodeJSON(doc Document, js []byte, allowList bool) []Document {
	var generic any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		doc.Problems = append(doc.Problems, doc.problem("", "not valid JSON: "+err.Error()))
		return []Document{doc}
	}
	top, ok := generic.(map[string]any)
	if !ok {
		doc.Problems = append(doc.Problems, doc.problem("", "must be an object with apiVersion, kind and metadata"))
		return []Document{doc}
	}
	apiVersion, _ := top["apiVersion"].(string)
	kindName, _ := top["kind"].(string)
	doc.Kind = kindName
	if meta, ok := top["metadata"].(map[string]any); ok {
		doc.Name, _ = meta["name"].(string)
	}

	var missing []Problem
	if kindName == "" {
		missing = append(missing, doc.problem("kind", "Required value"))
	}
	if apiVersion == "" {
		missing = append(missing, doc.problem("apiVersion", "Required value"))
	}
	if len(missing) > 0 {
		doc.Problems = append(doc.Problems, missing...)
		return []Document{doc}
	}

	if kindName == listKind && allowList {
		return decodeList(doc, apiVersion, top)
	}
	k, ok := lookupKind(kindName)
	if !ok {
		doc.Problems = append(doc.Problems, fieldProblem(&doc, field.NotSupported(field.NewPath("kind"), kindName, kindNames())))
		return []Document{doc}
	}
	if apiVersion != k.apiVersion {
		doc.Problems = append(doc.Problems, fieldProblem(&doc, field.NotSupported(field.NewPath("apiVersion"), apiVersion, []string{k.apiVersion})))
		return []Document{doc}
	}

	// The checker removes unknown fields and wrongly typed values from top,
	// so that the rest decodes whatever was wrong.
	issues, typeErrors := checkStrict(top, k.goType, nil)
	for _, is := range issues {
		doc.Problems = append(doc.Problems, doc.problem(is.path, is.message))
	}
	if len(issues) > 0 {
		var err error
		if js, err = json.Marshal(top); err != nil {
			doc.Problems = append(doc.Problems, doc.problem("", "Internal error: "+err.Error()))
			return []Document{doc}
		}
	}
	obj := k.newObject()
	if err := json.Unmarshal(js, obj); err != nil {
		// The strict checker removed everything encoding/json could refuse;
		// reaching here is a bug in the checker, reported, not hidden.
		doc.Problems = append(doc.Problems, doc.problem("", "Internal error: "+err.Error()))
		return []Document{doc}
	}
	SetDefaults(obj)
	doc.Object = obj
	doc.Namespace = obj.GetNamespace()
	if typeErrors > 0 {
		// Validating an object whose values were dropped would report
		// their absence (and what defaulting derived from it) as further
		// problems; as the Kubernetes API server does, a document that does
		// not decode is not validated.
		return []Document{doc}
	}
	for _, e := range Validate(obj) {
		doc.Problems = append(doc.Problems, fieldProblem(&doc, e))
	}
	return []Document{doc}
}

// decodeList expands a v1 List into one document per item.
func decodeList(doc Document, apiVersion string, top map[string]any) []Document {
	if apiVersion != "v1" {
		doc.Problems = append(doc.Problems, fieldProblem(&doc, field.NotSupported(field.NewPath("apiVersion"), apiVersion, []string{"v1"})))
		return []Document{doc}
	}
	if issues, _ := checkStrict(top, reflect.TypeFor[metav1.List](), nil); len(issues) > 0 {
		for _, is := range issues {
			doc.Problems = append(doc.Problems, doc.problem(is.path, is.message))
		}
		return []Document{doc}
	}
	items, _ := top["items"].([]any)
	if len(items) == 0 {
		doc.Problems = append(doc.Problems, doc.problem("items", "Required value: the List holds no objects"))
		return []Document{doc}
	}
	var docs []Document
	for i, item := range items {
		js, err := json.Marshal(item)
		if err != nil {
			doc.Problems = append(doc.Problems, doc.problem(fmt.Sprintf("items[%d]", i), "Internal error: "+err.Error()))
			return []Document{doc}
		}
		itemDoc := Document{Source: doc.Source, Index: doc.Index, Item: i + 1}
		docs = append(docs, decodeJSON(itemDoc, js, false)...)
	}
	return docs
}

// oneLine folds a multi-line parser message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
