package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/daemon/api"
)

// fakeGetter is an in-memory getClient. Watch sends the present objects
// as ADDED, then events, then ends as the daemon going away would, or
// waits for ctx when block is set.
type fakeGetter struct {
	pods      []corev1.Pod
	sets      []appsv1.StatefulSet
	events    []corev1.Event
	revisions []appsv1.ControllerRevision
	watch     []api.RawWatchEvent
	block     bool
	err       error
	watching  string
}

var _ getClient = (*fakeGetter)(nil)

func (f *fakeGetter) StatefulSets(context.Context, string) ([]appsv1.StatefulSet, error) {
	return f.sets, f.err
}

func (f *fakeGetter) StatefulSet(_ context.Context, ns, name string) (*appsv1.StatefulSet, error) {
	for i := range f.sets {
		if f.sets[i].Name == name {
			return &f.sets[i], nil
		}
	}
	return nil, fmt.Errorf("statefulset %s/%s: %w", ns, name, errdefs.ErrNotFound)
}

func (f *fakeGetter) Pods(context.Context, string) ([]corev1.Pod, error) { return f.pods, f.err }

func (f *fakeGetter) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	for i := range f.pods {
		if f.pods[i].Name == name {
			return &f.pods[i], nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s: %w", ns, name, errdefs.ErrNotFound)
}

func (f *fakeGetter) Volumes(context.Context, string) ([]corev1.PersistentVolumeClaim, error) {
	return []corev1.PersistentVolumeClaim{*testVolume("www-web-0")}, f.err
}

func (f *fakeGetter) Services(context.Context, string) ([]corev1.Service, error) {
	return []corev1.Service{*testService()}, f.err
}

func (f *fakeGetter) Events(context.Context, string, string, string) ([]corev1.Event, error) {
	return f.events, f.err
}

func (f *fakeGetter) AllRevisions(context.Context, string) ([]appsv1.ControllerRevision, error) {
	return f.revisions, f.err
}

func (f *fakeGetter) Watch(ctx context.Context, resource, _ string, fn func(api.RawWatchEvent) error) error {
	f.watching = resource
	var present []any
	switch resource {
	case "pods":
		for i := range f.pods {
			present = append(present, &f.pods[i])
		}
	case "events":
		for i := range f.events {
			present = append(present, &f.events[i])
		}
	}
	for _, obj := range present {
		b, _ := json.Marshal(obj)
		if err := fn(api.RawWatchEvent{Type: "ADDED", Object: b}); err != nil {
			return err
		}
	}
	for _, ev := range f.watch {
		if err := fn(ev); err != nil {
			return err
		}
	}
	if f.block {
		<-ctx.Done()
		return nil
	}
	return fmt.Errorf("watching %s: the daemon closed the stream: %w", resource, errdefs.ErrUnavailable)
}

func watchEvent(t *testing.T, typ string, obj any) api.RawWatchEvent {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return api.RawWatchEvent{Type: typ, Object: b}
}

func podList(names ...string) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range testPods() {
		for _, n := range names {
			if p.Name == n {
				out = append(out, *p)
			}
		}
	}
	return out
}

// TestRunGet checks get's output streams for lists, names and errors.
func TestRunGet(t *testing.T) {
	pods, _ := lookupResource("pods")
	sets, _ := lookupResource("sets")
	volumes, _ := lookupResource("volumes")
	services, _ := lookupResource("services")
	events, _ := lookupResource("events")
	revisions, _ := lookupResource("controllerrevisions")
	set := testSet()
	fake := &fakeGetter{pods: podList("web-0", "web-1"), sets: []appsv1.StatefulSet{*set},
		events: []corev1.Event{testEvents()[1], testEvents()[0]},
		revisions: []appsv1.ControllerRevision{{ObjectMeta: metav1.ObjectMeta{Name: "web-6b9b5c8d7f", Namespace: "default",
			CreationTimestamp: metav1.NewTime(testNow.Add(-2 * time.Hour)), OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}},
			Revision: 1}}}
	tests := []struct {
		name       string
		opts       getOptions
		client     *fakeGetter
		wantErr    error
		wantStdout string
		wantStderr string
	}{
		{"a list", getOptions{Resource: pods, Namespace: "default"}, fake, nil,
			"NAME    READY   STATUS    RESTARTS   AGE\nweb-0   1/1     Running   0          60m\nweb-1   0/1     Running   0          60m\n", ""},
		{"one name", getOptions{Resource: pods, Names: []string{"web-1"}, Namespace: "default"}, fake, nil,
			"NAME    READY   STATUS    RESTARTS   AGE\nweb-1   0/1     Running   0          60m\n", ""},
		{"a missing name", getOptions{Resource: pods, Names: []string{"web-1", "web-7"}, Namespace: "default"}, fake, errSilent,
			"NAME    READY   STATUS    RESTARTS   AGE\nweb-1   0/1     Running   0          60m\n",
			"Error from server (NotFound): pods \"web-7\" not found\n"},
		{"only missing names", getOptions{Resource: sets, Names: []string{"db"}, Namespace: "default", Output: "json"}, fake, errSilent,
			"", "Error from server (NotFound): statefulsets.apps \"db\" not found\n"},
		{"a missing volume", getOptions{Resource: volumes, Names: []string{"www-web-9"}, Namespace: "default"}, fake, errSilent,
			"", "Error from server (NotFound): persistentvolumeclaims \"www-web-9\" not found\n"},
		{"nothing in the namespace", getOptions{Resource: pods, Namespace: "prod"}, &fakeGetter{}, nil,
			"", "No resources found in prod namespace.\n"},
		{"nothing anywhere", getOptions{Resource: pods, AllNamespaces: true}, &fakeGetter{}, nil,
			"", "No resources found\n"},
		{"an empty list as JSON says nothing on stderr", getOptions{Resource: sets, Output: "json"}, &fakeGetter{}, nil,
			"{\n    \"apiVersion\": \"v1\",\n    \"items\": [],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n", ""},
		{"events oldest first", getOptions{Resource: events, Namespace: "default"}, fake, nil,
			"LAST SEEN   TYPE     REASON             OBJECT            MESSAGE\n" +
				"50m         Normal   SuccessfulCreate   statefulset/web   create Pod web-0 in StatefulSet web successful\n" +
				"49m         Normal   Started            pod/web-0         Started container web\n", ""},
		{"revisions as kubectl lists controllerrevisions", getOptions{Resource: revisions, Namespace: "default"}, fake, nil,
			"NAME             CONTROLLER             REVISION   AGE\nweb-6b9b5c8d7f   statefulset.apps/web   1          120m\n", ""},
		{"names across namespaces", getOptions{Resource: pods, Names: []string{"web-0"}, AllNamespaces: true}, fake,
			errors.New("a resource cannot be retrieved by name across all namespaces"), "", ""},
		{"a bad output format", getOptions{Resource: pods, Output: "xml"}, fake,
			errors.New(`unsupported output format "xml": use wide, json, yaml or name`), "", ""},
		{"services cannot be watched", getOptions{Resource: services, Watch: true}, fake,
			errors.New("get services -w: the daemon cannot stream services changes; only sets, pods, volumes and events can be watched"), "", ""},
		{"a daemon error", getOptions{Resource: pods}, &fakeGetter{err: errors.New("boom")}, errors.New("boom"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			tt.opts.Now = func() time.Time { return testNow }
			err := runGet(context.Background(), tt.client, tt.opts, &stdout, &stderr)
			if (err == nil) != (tt.wantErr == nil) || (err != nil && err.Error() != tt.wantErr.Error()) {
				t.Errorf("runGet = %v, want %v", err, tt.wantErr)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), tt.wantStdout)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestRunGetOneAsJSON checks that `get pod NAME -o json` prints the object
// alone, with its apiVersion and kind.
func TestRunGetOneAsJSON(t *testing.T) {
	pods, _ := lookupResource("po")
	var stdout bytes.Buffer
	err := runGet(context.Background(), &fakeGetter{pods: podList("web-0")},
		getOptions{Resource: pods, Names: []string{"web-0"}, Output: "json"}, &stdout, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(stdout.Bytes(), &pod); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if pod.Kind != "Pod" || pod.APIVersion != "v1" || pod.Name != "web-0" || pod.Status.PodIP != "10.88.0.5" {
		t.Errorf("pod = %+v", pod)
	}
}

// TestRunGetWatch checks -w: the table, then one row per change, without
// repeating the objects the stream starts with; the end of the stream is
// an error, an interrupt is not.
func TestRunGetWatch(t *testing.T) {
	pods, _ := lookupResource("pods")
	web1Ready := testPod("web-1", func(p *corev1.Pod) { running(p, true, 30*time.Second) })
	web2 := testPod("web-2", func(p *corev1.Pod) {
		p.CreationTimestamp = ago(time.Second)
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	})
	other := testPod("db-0", nil)
	fake := &fakeGetter{pods: podList("web-0", "web-1"), watch: []api.RawWatchEvent{
		watchEvent(t, "MODIFIED", testPods()[3]), // unchanged: not printed again
		watchEvent(t, "MODIFIED", web1Ready),
		watchEvent(t, "ADDED", web2),
		watchEvent(t, "ADDED", other),
		watchEvent(t, "DELETED", web2),
	}}
	var stdout, stderr bytes.Buffer
	opts := getOptions{Resource: pods, Namespace: "default", Watch: true, Now: func() time.Time { return testNow }}
	err := runGet(context.Background(), fake, opts, &stdout, &stderr)
	if !errdefs.IsUnavailable(err) {
		t.Errorf("runGet = %v, want the stream's end", err)
	}
	want := `NAME    READY   STATUS    RESTARTS   AGE
web-0   1/1     Running   0          60m
web-1   0/1     Running   0          60m
web-1   1/1     Running   0          60m
web-2   0/1     ContainerCreating   0          1s
db-0    0/1     Pending             0          60m
web-2   0/1     ContainerCreating   0          1s
`
	if stdout.String() != want || fake.watching != "pods" {
		t.Errorf("watching %q, stdout:\n%s\nwant:\n%s", fake.watching, stdout.String(), want)
	}

	// One name: only its changes.
	stdout.Reset()
	opts.Names = []string{"web-2"}
	fake.pods = append(fake.pods, *web2)
	_ = runGet(context.Background(), fake, opts, &stdout, &stderr)
	if got := strings.Count(stdout.String(), "web-2"); got != 2 || strings.Contains(stdout.String(), "web-1") {
		t.Errorf("watching web-2:\n%s", stdout.String())
	}

	// An interrupt ends the watch cleanly.
	ctx, cancel := context.WithCancel(context.Background())
	fake = &fakeGetter{events: testEvents(), block: true}
	events, _ := lookupResource("events")
	stdout.Reset()
	done := make(chan error)
	go func() {
		done <- runGet(ctx, fake, getOptions{Resource: events, Watch: true, Output: "json", Now: opts.Now}, &stdout, &stderr)
	}()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runGet after an interrupt = %v, want nil", err)
	}
	if got := strings.Count(stdout.String(), `"kind": "Event"`); got != 3 || strings.Contains(stdout.String(), `"List"`) {
		t.Errorf("-w -o json printed %d events, want the 3 one by one, without a List or repeats:\n%s", got, stdout.String())
	}
}

// TestResourceArgs checks the TYPE [NAME...] and TYPE/NAME forms.
func TestResourceArgs(t *testing.T) {
	tests := []struct {
		args      []string
		wantType  string
		wantNames []string
		wantErr   string
	}{
		{[]string{"sts", "web"}, "sets", []string{"web"}, ""},
		{[]string{"statefulset.apps/web", "sts/db"}, "sets", []string{"web", "db"}, ""},
		{[]string{"po/web-0"}, "pods", []string{"web-0"}, ""},
		{[]string{"pvc"}, "volumes", []string{}, ""},
		{[]string{"ev"}, "events", []string{}, ""},
		{[]string{}, "", nil, "get needs a resource type: sets, pods, volumes, services, events or revisions"},
		{[]string{"deployments"}, "", nil, `unknown resource type "deployments": use sets, pods, volumes, services, events or revisions`},
		{[]string{"po/web-0", "svc/nginx"}, "", nil, "get svc/nginx: all TYPE/NAME arguments must name the same type"},
		{[]string{"po/web-0", "web-1"}, "", nil, "there is no need to give a resource type as a separate argument when using TYPE/NAME: use po/web-1 or po web-1"},
		{[]string{"po/"}, "", nil, "get: TYPE/NAME needs a NAME"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res, names, err := resourceArgs("get", tt.args)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || res.Name != tt.wantType || strings.Join(names, ",") != strings.Join(tt.wantNames, ",") {
				t.Errorf("resourceArgs = %s %v %v", res.Name, names, err)
			}
		})
	}
}
