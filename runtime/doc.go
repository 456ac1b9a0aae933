// Package runtime will own everything setlet does through containerd:
// images (pull, import), containers and tasks, the OCI spec built from a pod
// template, logs, exec and exec probes.
//
// Nothing is implemented here yet; the pods issue brings it. runtime must
// not import network, dns, storage, daemon or cli.
package runtime
