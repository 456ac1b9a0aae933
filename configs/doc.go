// Package configs turns manifests into Kubernetes objects setlet can run.
//
// It owns decoding multi-document YAML or JSON (a file, a directory or a
// stream) into the real k8s.io/api types (apps/v1 StatefulSet; v1 Service,
// ConfigMap and Secret), strict field checking, defaulting as the Kubernetes
// API server does it, and validation with field paths. Every problem of a
// document is reported, each naming the source, the document index, the
// object and the field path.
//
// configs imports only k8s.io/api, k8s.io/apimachinery and sigs.k8s.io/yaml.
// It must not import any other setlet package: the daemon and the CLI both
// use it, and it runs offline.
package configs
