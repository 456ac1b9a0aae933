// Package cli is the urfave/cli/v2 application behind the setlet binary:
// every user command. A command's action only fills an options struct and
// calls a plain function that writes to the io.Writers it is given, so the
// commands are tested without the CLI framework.
//
// The user commands follow kubectl: apply, delete, get, describe, logs,
// exec and scale take the same arguments and flags (flags may follow
// arguments: Main reorders them for urfave/cli, which stops at the first
// argument), print the same tables, and -o json / -o yaml print the
// Kubernetes objects (apps/v1 StatefulSet, v1 Pod, PersistentVolumeClaim,
// Service, Event), a stable contract for scripts. Results go to stdout,
// diagnostics to stderr as one line; the exit code is 0, 1 on any error,
// or the remote command's own code for exec. Printing (tables, STATUS
// columns, describe) is pure: functions of the objects and of the time.
//
// cli may import configs (for client-side validation) and the API types; it
// talks to the daemon only through the API client.
package cli
