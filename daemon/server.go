package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/errdefs"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/storage"
)

// maxApplyBody bounds an apply request: every source may be up to
// configs.MaxSourceBytes, and a request of many manifests is still small.
const maxApplyBody = 64 << 20

// routes returns the API's handler: HTTP/JSON under /v1, served on the
// root-only unix socket.
func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", d.handleVersion)
	mux.HandleFunc("POST /v1/apply", d.handleApply)
	mux.HandleFunc("POST /v1/delete", d.handleDelete)

	mux.HandleFunc("GET /v1/statefulsets", d.handleListSets)
	mux.HandleFunc("GET /v1/namespaces/{ns}/statefulsets/{name}", d.handleGetSet)
	mux.HandleFunc("DELETE /v1/namespaces/{ns}/statefulsets/{name}", d.handleDeleteSet)
	mux.HandleFunc("POST /v1/namespaces/{ns}/statefulsets/{name}/scale", d.handleScale)
	mux.HandleFunc("GET /v1/namespaces/{ns}/statefulsets/{name}/describe", d.handleDescribeSet)
	mux.HandleFunc("GET /v1/namespaces/{ns}/statefulsets/{name}/revisions", d.handleRevisions)
	mux.HandleFunc("POST /v1/namespaces/{ns}/statefulsets/{name}/rollout", d.handleRollout)

	mux.HandleFunc("GET /v1/pods", d.handleListPods)
	mux.HandleFunc("GET /v1/namespaces/{ns}/pods/{name}", d.handleGetPod)
	mux.HandleFunc("DELETE /v1/namespaces/{ns}/pods/{name}", d.handleDeletePod)
	mux.HandleFunc("GET /v1/namespaces/{ns}/pods/{name}/describe", d.handleDescribePod)
	mux.HandleFunc("GET /v1/namespaces/{ns}/pods/{name}/log", d.handleLogs)
	mux.HandleFunc("POST /v1/namespaces/{ns}/pods/{name}/exec", d.handleExec)

	mux.HandleFunc("GET /v1/volumes", d.handleListVolumes)
	mux.HandleFunc("DELETE /v1/namespaces/{ns}/volumes/{name}", d.handleDeleteVolume)
	mux.HandleFunc("GET /v1/services", d.handleListServices)
	mux.HandleFunc("GET /v1/events", d.handleListEvents)
	mux.HandleFunc("GET /v1/dns", d.handleListDNS)
	mux.HandleFunc("GET /v1/revisions", d.handleListRevisions)
	mux.HandleFunc("GET /v1/doctor", d.handleDoctor)
	mux.HandleFunc("GET /v1/manifests", d.handleListManifests)
	mux.HandleFunc("GET /v1/status", d.handleStatus)

	// Profiles for operators, on the same root-only socket: no port.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /v1/images", d.handleListImages)
	mux.HandleFunc("POST /v1/images/import", d.handleImportImages)
	mux.HandleFunc("POST /v1/images/pull", d.handlePullImage)
	return mux
}

// listen opens the API socket, root-only (0600), replacing a stale socket
// file left by a daemon that died.
func listen(socket string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o700); err != nil {
		return nil, fmt.Errorf("creating socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", socket, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another setlet daemon is serving %s: %w", socket, errdefs.ErrConflict)
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale socket %s: %w", socket, err)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", socket, err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("restricting %s to root: %w", socket, err)
	}
	return l, nil
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with err's class as status and its message, and the
// manifest problems of a refused apply.
func writeError(w http.ResponseWriter, err error) {
	status, code := api.StatusOf(err)
	body := api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: err.Error()}}
	var perr *problemsError
	if errors.As(err, &perr) {
		body.Error.Problems = perr.problems
	}
	writeJSON(w, status, body)
}

// decodeBody reads a JSON request body into v.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxApplyBody))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("reading request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (d *Daemon) handleVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, d.versionInfo(r.Context()))
}

func (d *Daemon) handleApply(w http.ResponseWriter, r *http.Request) {
	var req api.ApplyRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	resp, err := d.apply(req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (d *Daemon) handleDelete(w http.ResponseWriter, r *http.Request) {
	var req api.ApplyRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	resp, err := d.deleteObjects(req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (d *Daemon) handleDeleteSet(w http.ResponseWriter, r *http.Request) {
	k := storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	if err := d.deleteObject(k, force); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ObjectResult{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name, Action: "deleted"})
}

func (d *Daemon) handleScale(w http.ResponseWriter, r *http.Request) {
	var req api.ScaleRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := d.scale(r.PathValue("ns"), r.PathValue("name"), req.Replicas, req.Force); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ObjectResult{Kind: configs.KindStatefulSet, Namespace: r.PathValue("ns"), Name: r.PathValue("name"), Action: "scaled"})
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := d.status(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (d *Daemon) handleListManifests(w http.ResponseWriter, r *http.Request) {
	ms, err := d.listManifests()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ms)
}

func (d *Daemon) handleDeleteVolume(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if err := d.deleteVolume(ns, name); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ObjectResult{Kind: "PersistentVolumeClaim", Namespace: ns, Name: name, Action: "deleted"})
}

func (d *Daemon) handleDeletePod(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if _, err := d.store.Pod(ns, name); err != nil {
		writeError(w, err)
		return
	}
	if _, err := markTerminating(d.store, ns, name, d.clock); err != nil {
		writeError(w, err)
		return
	}
	d.hub.publish(change{Kind: "Pod", Namespace: ns, Name: name})
	d.kubelet.podChanged(key(ns, name))
	writeJSON(w, http.StatusOK, api.ObjectResult{Kind: "Pod", Namespace: ns, Name: name, Action: "deleted"})
}

// namespaceFilter returns the ?namespace= of a list request ("" is all).
func namespaceFilter(r *http.Request) string { return r.URL.Query().Get("namespace") }

func (d *Daemon) handleListSets(w http.ResponseWriter, r *http.Request) {
	if isWatch(r) {
		d.serveWatch(w, r, configs.KindStatefulSet)
		return
	}
	sets, err := d.listSets(namespaceFilter(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sets)
}

func (d *Daemon) handleGetSet(w http.ResponseWriter, r *http.Request) {
	set, err := d.store.StatefulSet(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

func (d *Daemon) handleListPods(w http.ResponseWriter, r *http.Request) {
	if isWatch(r) {
		d.serveWatch(w, r, "Pod")
		return
	}
	pods, err := d.listPods(namespaceFilter(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pods)
}

func (d *Daemon) handleGetPod(w http.ResponseWriter, r *http.Request) {
	pod, err := d.store.Pod(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, pod)
}

func (d *Daemon) handleListVolumes(w http.ResponseWriter, r *http.Request) {
	if isWatch(r) {
		d.serveWatch(w, r, "Volume")
		return
	}
	vols, err := d.listVolumes(namespaceFilter(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, vols)
}

func (d *Daemon) handleListServices(w http.ResponseWriter, r *http.Request) {
	svcs, err := d.listServices(namespaceFilter(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, svcs)
}

func (d *Daemon) handleListRevisions(w http.ResponseWriter, r *http.Request) {
	revs, err := d.allRevisions(namespaceFilter(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, revs)
}

func (d *Daemon) handleRevisions(w http.ResponseWriter, r *http.Request) {
	revs, err := d.revisions(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, revs)
}

func (d *Daemon) handleRollout(w http.ResponseWriter, r *http.Request) {
	var req api.RolloutRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	result, err := d.rollout(r.PathValue("ns"), r.PathValue("name"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RolloutResponse{Result: result})
}

func (d *Daemon) handleListDNS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, d.dnsRecords(r.URL.Query().Get("name")))
}

func (d *Daemon) handleListEvents(w http.ResponseWriter, r *http.Request) {
	if isWatch(r) {
		d.serveWatch(w, r, "Event")
		return
	}
	q := r.URL.Query()
	evs, err := d.listEvents(namespaceFilter(r), q.Get("kind"), q.Get("name"), 0)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, evs)
}

func (d *Daemon) handleDescribeSet(w http.ResponseWriter, r *http.Request) {
	desc, err := d.describeSet(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, desc)
}

func (d *Daemon) handleDescribePod(w http.ResponseWriter, r *http.Request) {
	desc, err := d.describePod(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, desc)
}

func (d *Daemon) handleListImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := d.images.Images(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIImages(imgs))
}

func (d *Daemon) handleImportImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := d.images.ImportImages(r.Context(), r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIImages(imgs))
}

func (d *Daemon) handlePullImage(w http.ResponseWriter, r *http.Request) {
	var req api.PullRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	img, err := d.images.PullImage(r.Context(), req.Ref)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toAPIImages([]runtimeImage{img})[0])
}

// initialEventsEnd is the object of the bookmark that ends a watch's
// initial events, annotated as Kubernetes annotates it.
var initialEventsEnd = map[string]any{"metadata": map[string]any{"annotations": map[string]string{"k8s.io/initial-events-end": "true"}}}

func isWatch(r *http.Request) bool {
	w, _ := strconv.ParseBool(r.URL.Query().Get("watch"))
	return w
}

// serveWatch streams kind's objects of the requested namespace: first the
// present ones as ADDED, then, when the request has
// allowWatchBookmarks=true, one BOOKMARK event, then every change, one JSON
// object per line, until the client goes away or the daemon stops.
func (d *Daemon) serveWatch(w http.ResponseWriter, r *http.Request, kind string) {
	ns := namespaceFilter(r)
	sub, cancel := d.hub.subscribe()
	defer cancel()
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	send := func(typ string, obj any) bool {
		if err := enc.Encode(api.WatchEvent{Type: typ, Object: obj}); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	seen, ok := d.watchList(kind, ns, nil, send)
	if !ok {
		return
	}
	if b, _ := strconv.ParseBool(r.URL.Query().Get("allowWatchBookmarks")); b && !send(api.Bookmark, initialEventsEnd) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case c := <-sub.ch:
			if sub.takeLagged() {
				if seen, ok = d.watchList(kind, ns, seen, send); !ok {
					return
				}
				continue
			}
			if c.Kind != kind || (ns != "" && c.Namespace != ns) {
				continue
			}
			if kind == "Event" {
				seen, ok = d.watchList(kind, ns, seen, send)
			} else {
				seen, ok = d.watchOne(kind, c, seen, send)
			}
			if !ok {
				return
			}
		}
	}
}
