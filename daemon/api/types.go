package api

import (
	"time"

	"github.com/setlet/setlet/configs"
)

// Version is the API version, the first element of every path.
const Version = "v1"

// Source is one manifest file sent to the daemon: its name (used in error
// messages, e.g. "web.yaml") and its bytes.
type Source struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// ApplyRequest is the body of POST /v1/apply and POST /v1/delete.
type ApplyRequest struct {
	Sources []Source `json:"sources"`
	// DryRun validates and reports what would change without changing it.
	DryRun bool `json:"dryRun,omitempty"`
	// Force changes (or deletes) objects that a file of the daemon's
	// manifest directory owns; without it such a change is refused.
	Force bool `json:"force,omitempty"`
}

// ObjectResult says what an apply or a delete did to one object, in
// kubectl's words: "created", "configured", "unchanged", "deleted".
type ObjectResult struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Action    string `json:"action"`
}

// ApplyResponse is the answer to a successful apply or delete.
type ApplyResponse struct {
	Results []ObjectResult `json:"results"`
}

// ScaleRequest is the body of POST .../statefulsets/{name}/scale.
type ScaleRequest struct {
	Replicas int32 `json:"replicas"`
	Force    bool  `json:"force,omitempty"` // as ApplyRequest.Force
}

// RolloutRequest is the body of POST .../statefulsets/{name}/rollout: a
// change of the set's pod template, as `kubectl rollout undo`, `rollout
// restart` and `set image` make.
type RolloutRequest struct {
	Action     string            `json:"action"`               // RolloutUndo, RolloutRestart or RolloutImage
	ToRevision int64             `json:"toRevision,omitempty"` // undo: the revision; 0 for the previous one
	Images     map[string]string `json:"images,omitempty"`     // image: container name ("*" for all) -> image
	Force      bool              `json:"force,omitempty"`      // as ApplyRequest.Force
}

// The actions of a RolloutRequest.
const (
	RolloutUndo    = "undo"
	RolloutRestart = "restart"
	RolloutImage   = "image"
)

// RolloutResponse says what a RolloutRequest did, in kubectl's words
// ("rolled back", "restarted", "image updated", "skipped rollback ...").
type RolloutResponse struct {
	Result string `json:"result"`
}

// PullRequest is the body of POST /v1/images/pull.
type PullRequest struct {
	Ref string `json:"ref"`
}

// Image is one image in containerd's image store.
type Image struct {
	Name    string `json:"name"`
	Digest  string `json:"digest"`
	Size    int64  `json:"size"`
	Created string `json:"created,omitempty"` // RFC 3339
}

// VersionInfo is the answer to GET /v1/version.
type VersionInfo struct {
	Version    string `json:"version"`
	Containerd string `json:"containerd,omitempty"`
	Namespace  string `json:"containerdNamespace,omitempty"`
	Network    string `json:"network,omitempty"`
	// DNS are the addresses the DNS server listens on (UDP and TCP).
	DNS []string `json:"dns,omitempty"`
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong. Code names the error class:
// InvalidArgument, NotFound, AlreadyExists, Conflict, FailedPrecondition,
// Unavailable or Internal.
type ErrorDetail struct {
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Problems []configs.Problem `json:"problems,omitempty"`
}

// WatchEvent is one line of a watch stream (?watch=true): the type of
// change and the object as it now is (as it last was for DELETED).
type WatchEvent struct {
	Type   string `json:"type"` // ADDED, MODIFIED, DELETED
	Object any    `json:"object"`
}

// Describe is the answer to GET .../describe of a set or a pod: the object,
// what it owns, its events and, when it is not done, why.
type Describe struct {
	Object  any    `json:"object"`
	Pods    any    `json:"pods,omitempty"`
	Volumes any    `json:"volumes,omitempty"`
	Events  any    `json:"events,omitempty"`
	Waiting string `json:"waiting,omitempty"`
	// DNSNames are the names the DNS server answers with a pod's IP.
	DNSNames []string `json:"dnsNames,omitempty"`
}

// DNSRecord is one record the daemon's DNS server answers with (GET
// /v1/dns).
type DNSRecord struct {
	Name    string `json:"name"`              // owner name, fully qualified
	Type    string `json:"type"`              // A, SRV or PTR
	TTL     int    `json:"ttl"`               // seconds
	Data    string `json:"data"`              // as in a zone file: "10.88.0.5", "0 50 80 web-0.nginx.set.local."
	Pod     string `json:"pod,omitempty"`     // namespace/name of the pod it comes from
	Service string `json:"service,omitempty"` // namespace/name of the service it belongs to
}

// Exec stream channels: every frame on an exec connection is one byte of
// channel, four bytes of big-endian payload length, then the payload.
const (
	ExecStdin  byte = 0 // client to daemon; an empty frame closes stdin
	ExecStdout byte = 1
	ExecStderr byte = 2
	ExecResize byte = 3 // client to daemon; payload: JSON TermSize
	ExecExit   byte = 4 // daemon to client, last frame; payload: JSON ExecExitStatus
)

// TermSize is a terminal size sent on ExecResize.
type TermSize struct {
	Width  uint16 `json:"width"`
	Height uint16 `json:"height"`
}

// ExecExitStatus ends an exec stream.
type ExecExitStatus struct {
	Code  int    `json:"code"`
	Error string `json:"error,omitempty"`
}

// Annotations setlet puts on the objects it shows.
const (
	// VolumePathAnnotation carries a volume's host directory on its
	// PersistentVolumeClaim.
	VolumePathAnnotation = "setlet.io/host-path"
)

// Manifest is a file of the daemon's manifest directory, as GET
// /v1/manifests lists it.
type Manifest struct {
	Path    string         `json:"path"`
	Applied *time.Time     `json:"applied,omitempty"` // when its last good version was applied
	Objects []ObjectResult `json:"objects,omitempty"` // what that version applied (Action empty)
	Error   string         `json:"error,omitempty"`   // why the file as it is now was refused
}

// Status is the daemon's health at a glance, as GET /v1/status answers
// and `setlet status` prints it.
type Status struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Reconciled is when every pod found at the start had been synced
	// once (adopted or started); nil while Unreconciled pods are left.
	Reconciled   *time.Time `json:"reconciled,omitempty"`
	Unreconciled int        `json:"unreconciled,omitempty"`
	// Containerd: whether it serves, since when, why not, its version.
	Containerd ContainerdStatus `json:"containerd"`
	// Network is the CNI network's name; Subnet and Gateway its pods'.
	Network string `json:"network"`
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway,omitempty"`
	// DNS are the DNS server's addresses; Zone its zone.
	DNS  []string `json:"dns,omitempty"`
	Zone string   `json:"zone"`
	// ManifestDir and ImageDir are the watched directories ("" when off);
	// ManifestErrors counts the manifest files whose last version was
	// refused.
	ManifestDir    string `json:"manifestDir,omitempty"`
	ManifestErrors int    `json:"manifestErrors,omitempty"`
	ImageDir       string `json:"imageDir,omitempty"`
	// Counts of what runs.
	Sets      int            `json:"sets"`
	Pods      map[string]int `json:"pods"` // by phase
	ReadyPods int            `json:"readyPods"`
	Volumes   int            `json:"volumes"`
}

// ContainerdStatus is containerd's part of a Status.
type ContainerdStatus struct {
	Address string    `json:"address"`
	Up      bool      `json:"up"`
	Since   time.Time `json:"since"`
	Error   string    `json:"error,omitempty"`
	Version string    `json:"version,omitempty"`
}
