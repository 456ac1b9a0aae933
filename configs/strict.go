package configs

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The strict checker walks a document decoded into generic JSON values
// (map[string]any, []any, json.Number, string, bool, nil) side by side with
// the Go type it will be decoded into, and reports every unknown field and
// every value of the wrong type with its full path, indexes included. The
// JSON decoders stop at the first type error and report no indexes; users
// need all of them, pointing at the exact list element.

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// jsonField is one JSON-visible field of a struct type.
type jsonField struct {
	name  string
	index []int
	typ   reflect.Type
}

// strictChecker holds the per-walk cache of struct field tables.
type strictChecker struct {
	fields     map[reflect.Type]map[string]jsonField
	errs       []fieldIssue
	typeErrors int // values of the wrong type (unknown fields are not counted)
}

// fieldIssue is one problem at one field path, already worded.
type fieldIssue struct {
	path    string
	message string
}

// checkStrict reports unknown fields and wrongly typed values of v, which
// is to be decoded into a value of type t, and removes them from v so that
// what is left decodes cleanly. typeErrors counts the wrongly typed values.
func checkStrict(v any, t reflect.Type, path *field.Path) (issues []fieldIssue, typeErrors int) {
	c := &strictChecker{fields: map[reflect.Type]map[string]jsonField{}}
	c.check(v, t, path)
	return c.errs, c.typeErrors
}

func (c *strictChecker) check(v any, t reflect.Type, path *field.Path) (drop bool) {
	if v == nil {
		return false // null leaves a field unset, as in Kubernetes
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return c.checkUnmarshaler(v, t, path)
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return c.typeError(path, v, "must be an object")
		}
		table := c.table(t)
		for _, key := range sortedKeys(obj) {
			f, ok := table[key]
			if !ok {
				c.errs = append(c.errs, unknownField(path.Child(key), key, table))
				delete(obj, key)
				continue
			}
			if c.check(obj[key], f.typ, path.Child(key)) {
				delete(obj, key)
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return c.typeError(path, v, "must be an object")
		}
		for _, key := range sortedKeys(obj) {
			if c.check(obj[key], t.Elem(), path.Key(key)) {
				delete(obj, key)
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := v.(string)
			if !ok {
				return c.typeError(path, v, "must be a base64-encoded string")
			}
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return c.typeError(path, field.OmitValueType{}, "must be base64-encoded (use stringData for plain text)")
			}
			return false
		}
		list, ok := v.([]any)
		if !ok {
			return c.typeError(path, v, "must be a list")
		}
		for i, item := range list {
			if c.check(item, t.Elem(), path.Index(i)) {
				list[i] = nil
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return c.typeError(path, v, "must be a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return c.typeError(path, v, "must be a boolean (true or false)")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return c.typeError(path, v, "must be an integer")
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return c.typeError(path, v, fmt.Sprintf("must be a %d-bit integer", t.Bits()))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return c.typeError(path, v, "must be a non-negative integer")
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return c.typeError(path, v, fmt.Sprintf("must be a non-negative %d-bit integer", t.Bits()))
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return c.typeError(path, v, "must be a number")
		}
	case reflect.Interface:
		// anything goes
	default:
		c.typeErrors++
		c.add(field.InternalError(path, fmt.Errorf("cannot check values of Go type %s", t)))
		return true
	}
	return false
}

// checkUnmarshaler decodes v with the type's own UnmarshalJSON, which is
// where quantities, int-or-strings and times are parsed.
func (c *strictChecker) checkUnmarshaler(v any, t reflect.Type, path *field.Path) (drop bool) {
	raw, err := json.Marshal(v)
	if err != nil {
		return c.typeError(path, field.OmitValueType{}, err.Error())
	}
	target := reflect.New(t).Interface().(json.Unmarshaler)
	if err := target.UnmarshalJSON(raw); err == nil {
		return false
	}
	switch t {
	case reflect.TypeFor[resource.Quantity]():
		return c.typeError(path, v, "must be a quantity such as 500m, 1, 1.5, 128Mi or 1Gi")
	case reflect.TypeFor[intstr.IntOrString]():
		return c.typeError(path, v, "must be an integer or a string")
	case reflect.TypeFor[metav1.Time](), reflect.TypeFor[metav1.MicroTime]():
		return c.typeError(path, v, "must be an RFC 3339 time such as 2006-01-02T15:04:05Z")
	default:
		return c.typeError(path, v, "must be a valid "+t.Name())
	}
}

// typeError records a value of the wrong JSON type and asks the caller to
// drop it. Scalars are shown, objects and lists are not (they would flood
// the line).
func (c *strictChecker) typeError(path *field.Path, v any, detail string) (drop bool) {
	c.typeErrors++
	var bad any = field.OmitValueType{}
	switch v := v.(type) {
	case string:
		bad = v
	case bool:
		bad = v
	case json.Number:
		bad = numberValue{v}
	case field.OmitValueType:
		bad = v
	}
	c.add(field.TypeInvalid(path, bad, detail))
	return true
}

func (c *strictChecker) add(e *field.Error) {
	c.errs = append(c.errs, fieldIssue{path: e.Field, message: e.ErrorBody()})
}

// numberValue prints a JSON number as written.
type numberValue struct{ n json.Number }

func (n numberValue) MarshalJSON() ([]byte, error) { return []byte(n.n.String()), nil }

// table returns the JSON field table of struct type t, following embedded
// structs the way encoding/json does (TypeMeta's `json:",inline"`).
func (c *strictChecker) table(t reflect.Type) map[string]jsonField {
	if table, ok := c.fields[t]; ok {
		return table
	}
	table := map[string]jsonField{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			ft := f.Type
			if f.Anonymous && name == "" {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, idx)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := table[name]; !dup {
				table[name] = jsonField{name: name, index: idx, typ: f.Type}
			}
		}
	}
	walk(t, nil)
	c.fields[t] = table
	return table
}

// unknownField reports a field the type does not have, suggesting the
// field the user most likely meant.
func unknownField(path *field.Path, key string, table map[string]jsonField) fieldIssue {
	message := "unknown field"
	if guess := closestField(key, table); guess != "" {
		message += fmt.Sprintf(" (did you mean %q?)", guess)
	}
	return fieldIssue{path: path.String(), message: message}
}

// closestField returns the known field name nearest to key: the same name
// in another case, or one at most two edits away; "" when none is close.
func closestField(key string, table map[string]jsonField) string {
	best, bestDist := "", 3
	for _, name := range sortedFieldNames(table) {
		if strings.EqualFold(name, key) {
			return name
		}
		if d := editDistance(strings.ToLower(key), strings.ToLower(name), bestDist); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or max when it is
// max or more (the search stops early).
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedFieldNames(table map[string]jsonField) []string {
	names := make([]string, 0, len(table))
	for k := range table {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
