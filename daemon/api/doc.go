// Package api is the contract between the setlet daemon and its clients:
// the wire types of the HTTP/JSON API the daemon serves on its unix socket,
// versioned under /v1, and the Client the CLI uses.
//
// Objects travel in their Kubernetes shapes (apps/v1 StatefulSet, v1 Pod,
// Service, PersistentVolumeClaim, Event), so output written for kubectl
// works on setlet's. Errors carry an HTTP status that says their class
// (400 invalid argument, 404 not found, 409 already exists or conflict,
// 412 failed precondition, 503 unavailable) and the Client turns them back
// into github.com/containerd/errdefs errors, with the manifest problems of a
// refused apply in *ApplyError.
//
// api imports configs (for the Problem type) and no other setlet package;
// the daemon and the cli import it.
package api
