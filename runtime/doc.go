// Package runtime owns everything setlet does through containerd: images
// (import archives, pull, list, apply an imagePullPolicy), containers and
// their tasks built from a Kubernetes container spec, container logs in
// the CRI format, exec (for exec probes and `setlet exec`), and task
// events. The daemon uses it through small interfaces of its own; runtime
// must not import network, dns, storage, daemon or cli.
//
// # Basics
//
// A Client (New) works in one containerd namespace ("setlet" by default)
// for one setlet instance (WithInstance): every container it creates
// carries the label LabelInstance with the instance ID, and Containers,
// Subscribe and every per-container method see only the containers of
// their instance, so two daemons can share a namespace. A Client is safe
// for concurrent use.
//
// The life of a container:
//
//	EnsureImage(ref, policy)        image present and unpacked
//	CreateContainer(cfg)            container + snapshot + OCI spec; AlreadyExists = done
//	StartContainer(id)              task created and started; output copied into cfg.LogPath
//	Subscribe                       start, exit and OOM events
//	ContainerStatus / Containers    state, pid, exit code, reason
//	Exec(id, cmd)                   probes and `setlet exec`
//	StopContainer(id, grace)        stop signal, grace, SIGKILL
//	RemoveContainer(id)             task, container, snapshot and FIFOs gone; NotFound = done
//
// The OCI spec is built by a pure function of the ContainerConfig and the
// image's config (spec.go), following the kubelet and containerd's CRI
// plugin: argv from Command/Args and the image's ENTRYPOINT/CMD,
// environment, user and groups, capabilities,
// privileged, no_new_privs, read-only rootfs, bind mounts with
// propagation, CPU shares and quota, memory limit.
//
// # Logs
//
// A task's stdout and stderr are FIFOs in the FIFO directory
// (WithFIFODir), <fifo-dir>/<namespace>/<container-id>/task-<n>/{stdout,stderr},
// and the Client itself copies them into the container's log file: no
// logger process per container. The file is in the CRI format that
// containerd's CRI plugin writes, one record a line:
//
//	2024-05-01T10:00:00.123456789Z stdout F a whole line
//	2024-05-01T10:00:00.223456789Z stderr P the first 16 KiB of a longer line
//	2024-05-01T10:00:00.223456789Z stderr F its end
//
// Lines longer than 16 KiB are cut into partial (P) records, the last
// piece full (F). The file is rotated at 10 MiB, keeping five files (N.log,
// N.log.1 ... N.log.4). ReadLogs reads them back as `kubectl logs` prints
// them, and follows the file with fsnotify.
//
// # Caveats
//
// When the daemon stops, containerd's shim keeps the FIFOs open and the
// containers running; their output waits in the FIFOs (64 KiB each) and
// then blocks the writing process until the daemon is back and Attach
// resumes the copying. Output a task wrote while the daemon was down and
// that is still in its FIFOs when the task exits is lost. A container with
// Stdin gets a standard input that stays open and never delivers data
// (setlet has no attach).
//
// ContainerStatus tells OOMKilled from the memory cgroup of the exited
// task, which lives until the task is removed. StartedAt is the time of the
// last StartContainer, kept in a container label (containerd does not
// record when a task started).
//
// Labels starting with "runtime.setlet.io/" are runtime's own; the daemon
// must not set them.
package runtime
