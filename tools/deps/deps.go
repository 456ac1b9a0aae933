//go:build tools

// Package deps pins, while the packages that use them are being written,
// the modules the pods issue brings in. It is never built (build tag
// "tools"); it goes when every module here is imported for real.
package deps

import (
	_ "github.com/containerd/containerd"
	_ "github.com/containerd/containerd/cio"
	_ "github.com/containerd/containerd/oci"
	_ "github.com/containernetworking/cni/libcni"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/term"
	_ "google.golang.org/grpc/health/grpc_health_v1"
)
