package api

import (
	"context"
	"net/http"
)

// The names of the checks of a DoctorReport, in the order it lists them.
// They are a stable contract, like the JSON field names.
const (
	// CheckOrdinals: no two pods of one ordinal, in the state file (one
	// record per set and ordinal, named after it) or in containerd (the
	// running containers of one pod name belong to one incarnation).
	CheckOrdinals = "ordinals"
	// CheckContainers: every container of the daemon's instance belongs to
	// a pod incarnation of the state file and runs only at that
	// container's current attempt; every container the state file says
	// is Running exists in containerd with a task. A containerd shim of
	// the namespace that serves no task (containerd leaked it) is a
	// warning.
	CheckContainers = "containers"
	// CheckNetworkNamespaces: every namespace file and mount under the
	// netns directory belongs to a pod incarnation of the state file, no
	// namespace is mounted over another, and every pod with a running
	// container has its namespace.
	CheckNetworkNamespaces = "network-namespaces"
	// CheckIPAllocations: every host-local allocation and every cached CNI
	// attachment belongs to a pod incarnation, no pod holds two IPs, and
	// every pod with a running container holds the IP its record shows.
	CheckIPAllocations = "ip-allocations"
	// CheckSnapshots: no active snapshot of the daemon's instance without
	// its container.
	CheckSnapshots = "snapshots"
	// CheckVolumes: every volume record (not being deleted) has its
	// directory, and every claim volume a pod names has a record. A
	// directory without a record is a warning: EnsureVolume adopts it.
	CheckVolumes = "volumes"
	// CheckRevisions: every pod of an existing set is labelled with a
	// ControllerRevision of that set that the state file holds.
	CheckRevisions = "revisions"
)

// DoctorReport is the answer to GET /v1/doctor: the daemon's invariants,
// checked against its own view (the state file, containerd, the network
// namespaces and IP allocations, the volume directories), and how far each
// set is from its spec.
//
// A problem is a broken invariant: something leaked, lost or duplicated,
// which the daemon will not mend by itself. A warning is worth a look but
// breaks nothing (a volume directory without a record, which the daemon
// adopts). A set that has not converged yet is neither: the daemon is
// still working on it.
type DoctorReport struct {
	// Checks has one entry per invariant, in the order of the Check*
	// constants.
	Checks []DoctorCheck `json:"checks"`
	// Sets says, per set (and per deleted set that still has pods), in
	// namespace and name order, whether it has converged.
	Sets []SetConvergence `json:"sets"`
	// Pods is the number of pod records the checks looked at.
	Pods int `json:"pods"`
}

// DoctorCheck is the outcome of one invariant check.
type DoctorCheck struct {
	// Name is one of the Check* constants.
	Name string `json:"name"`
	// OK says the invariant holds: Problems is empty.
	OK bool `json:"ok"`
	// Problems are the violations found, one sentence each, naming the
	// object (container ID, pod, IP, path).
	Problems []string `json:"problems,omitempty"`
	// Warnings do not make the check fail.
	Warnings []string `json:"warnings,omitempty"`
}

// SetConvergence says whether a set has converged to its spec: its
// generation observed, every ordinal of [start, start+replicas) Running
// and Ready at the update revision (below the partition, at any revision;
// with OnDelete, at any revision), and no other pod of it left.
type SetConvergence struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Converged says the set is where its spec wants it.
	Converged bool `json:"converged"`
	// Deleted says the set is gone and its pods are still being removed.
	Deleted bool `json:"deleted,omitempty"`
	// Replicas is spec.replicas; Ready the pods of its ordinals that are
	// Running and Ready; Updated those of them at UpdateRevision.
	Replicas int32 `json:"replicas"`
	Ready    int32 `json:"ready"`
	Updated  int32 `json:"updated"`
	// UpdateRevision is the revision the set's pods are moving to.
	UpdateRevision string `json:"updateRevision,omitempty"`
	// Waiting says, when the set has not converged, what it still waits
	// for, e.g. "web-2 is not Ready".
	Waiting string `json:"waiting,omitempty"`
}

// Healthy reports whether every invariant holds.
func (r DoctorReport) Healthy() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// Converged reports whether every set has converged.
func (r DoctorReport) Converged() bool {
	for _, s := range r.Sets {
		if !s.Converged {
			return false
		}
	}
	return true
}

// Failed returns the names of the checks that found problems, in order.
func (r DoctorReport) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// Doctor asks the daemon to check its invariants (GET /v1/doctor). The
// check only reads and is safe while the daemon works; a failed invariant
// is in the report, not an error. The error is the daemon's (Unavailable
// when it cannot reach containerd) or the connection's.
func (c *Client) Doctor(ctx context.Context) (DoctorReport, error) {
	var out DoctorReport
	return out, c.do(ctx, http.MethodGet, "/v1/doctor", nil, nil, &out)
}
