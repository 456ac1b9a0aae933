// Package network will own pod networking: network namespaces, CNI ADD and
// DEL through libcni, the default bridge conflist and port mappings.
//
// Nothing is implemented here yet; the pods issue brings it. network must
// not import runtime, dns, storage, daemon or cli.
package network
