package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/setlet/setlet/daemon/api"
)

// rolloutSet is a 3-replica set at generation gen with the given status.
func rolloutSet(gen int64, partition *int32, st appsv1.StatefulSetStatus) *appsv1.StatefulSet {
	three := int32(3)
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: gen},
		Spec: appsv1.StatefulSetSpec{Replicas: &three, UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
			Type: appsv1.RollingUpdateStatefulSetStrategyType,
		}},
		Status: st,
	}
	if partition != nil {
		set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}
	}
	return set
}

func TestRolloutStatus(t *testing.T) {
	zero, two := int32(0), int32(2)
	tests := []struct {
		name    string
		set     *appsv1.StatefulSet
		want    string
		done    bool
		wantErr string
	}{
		{"spec not observed", rolloutSet(2, nil, appsv1.StatefulSetStatus{ObservedGeneration: 1}), "Waiting for statefulset spec update to be observed...\n", false, ""},
		{"pods not ready", rolloutSet(1, nil, appsv1.StatefulSetStatus{ObservedGeneration: 1, ReadyReplicas: 1}), "Waiting for 2 pods to be ready...\n", false, ""},
		{"rolling update under way", rolloutSet(2, nil, appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "web-a", UpdateRevision: "web-b"}),
			"waiting for statefulset rolling update to complete 1 pods at revision web-b...\n", false, ""},
		{"rolling update complete", rolloutSet(2, nil, appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "web-b", UpdateRevision: "web-b"}),
			"statefulset rolling update complete 3 pods at revision web-b...\n", true, ""},
		{"partition waits for the ordinals above it", rolloutSet(2, &two, appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, CurrentRevision: "web-a", UpdateRevision: "web-b"}),
			"Waiting for partitioned roll out to finish: 0 out of 1 new pods have been updated...\n", false, ""},
		{"partition done", rolloutSet(2, &two, appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "web-a", UpdateRevision: "web-b"}),
			"partitioned roll out complete: 1 new pods have been updated...\n", true, ""},
		{"a defaulted RollingUpdate reads as kubectl reads it", rolloutSet(2, &zero, appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "web-b", UpdateRevision: "web-b"}),
			"partitioned roll out complete: 3 new pods have been updated...\n", true, ""},
		{"OnDelete has no rollout status", func() *appsv1.StatefulSet {
			s := rolloutSet(1, nil, appsv1.StatefulSetStatus{ObservedGeneration: 1})
			s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
			return s
		}(), "", true, "rollout status is only available for RollingUpdate strategy type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, done, err := rolloutStatus(tt.set)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || msg != tt.want || done != tt.done {
				t.Errorf("got %q %v %v, want %q %v", msg, done, err, tt.want, tt.done)
			}
		})
	}
}

// fakeRollout serves one set and then a watch stream of its versions.
type fakeRollout struct {
	set    *appsv1.StatefulSet
	stream []*appsv1.StatefulSet
}

func (f fakeRollout) StatefulSet(_ context.Context, ns, name string) (*appsv1.StatefulSet, error) {
	if f.set == nil || f.set.Name != name {
		return nil, fmt.Errorf("statefulset %s/%s: %w", ns, name, errdefs.ErrNotFound)
	}
	return f.set, nil
}

func (f fakeRollout) Watch(ctx context.Context, _, _ string, fn func(api.RawWatchEvent) error) error {
	for _, s := range f.stream {
		b, _ := json.Marshal(s)
		if err := fn(api.RawWatchEvent{Type: "MODIFIED", Object: b}); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func TestRunRolloutStatus(t *testing.T) {
	st := func(ready, updated int32, cur, upd string) appsv1.StatefulSetStatus {
		return appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: ready, UpdatedReplicas: updated, CurrentReplicas: 3 - updated, CurrentRevision: cur, UpdateRevision: upd}
	}
	steps := []*appsv1.StatefulSet{
		rolloutSet(2, nil, st(3, 0, "web-a", "web-b")),
		rolloutSet(2, nil, st(2, 1, "web-a", "web-b")),
		rolloutSet(2, nil, st(2, 1, "web-a", "web-b")), // no change: not printed again
		rolloutSet(2, nil, st(3, 1, "web-a", "web-b")),
		rolloutSet(2, nil, st(3, 3, "web-b", "web-b")),
	}
	steps[4].Status.CurrentReplicas = 3
	var out bytes.Buffer
	err := runRolloutStatus(context.Background(), fakeRollout{set: steps[0], stream: steps[1:]}, "default", "web", true, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "waiting for statefulset rolling update to complete 0 pods at revision web-b...\n" +
		"Waiting for 1 pods to be ready...\n" +
		"waiting for statefulset rolling update to complete 1 pods at revision web-b...\n" +
		"statefulset rolling update complete 3 pods at revision web-b...\n"
	if out.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
	}

	// A rollout that does not finish in time fails.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out.Reset()
	err = runRolloutStatus(ctx, fakeRollout{set: steps[1]}, "default", "web", true, &out)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error = %v, want a timeout", err)
	}
	// --watch=false: the state once, as kubectl, whatever it is.
	out.Reset()
	if err := runRolloutStatus(context.Background(), fakeRollout{set: steps[1]}, "default", "web", false, &out); err != nil || out.String() != "Waiting for 1 pods to be ready...\n" {
		t.Errorf("--watch=false: %v, printed %q", err, out.String())
	}
	// A set that does not exist is an error.
	if err := runRolloutStatus(context.Background(), fakeRollout{}, "default", "web", true, &out); !errdefs.IsNotFound(err) {
		t.Errorf("missing set: %v", err)
	}
}

type fakeHistory []appsv1.ControllerRevision

func (f fakeHistory) Revisions(context.Context, string, string) ([]appsv1.ControllerRevision, error) {
	return f, nil
}

func TestRolloutHistory(t *testing.T) {
	revs := fakeHistory{
		{ObjectMeta: metav1.ObjectMeta{Name: "web-a"}, Revision: 1, Data: runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"busybox:1"}]}}}}`)}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web-b", Annotations: map[string]string{"kubernetes.io/change-cause": "new image"}}, Revision: 2},
	}
	var out bytes.Buffer
	if err := runRolloutHistory(context.Background(), revs, "default", "web", 0, &out); err != nil {
		t.Fatal(err)
	}
	want := "statefulset.apps/web \nREVISION   CHANGE-CAUSE\n1          <none>\n2          new image\n\n"
	if out.String() != want {
		t.Errorf("history =\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	if err := runRolloutHistory(context.Background(), revs, "default", "web", 1, &out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"statefulset.apps/web with revision #1\n", "Image:", "busybox:1"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("history --revision 1 =\n%s\nwant it to contain %q", out.String(), s)
		}
	}
	if err := runRolloutHistory(context.Background(), revs, "default", "web", 9, &out); err == nil {
		t.Error("a revision that does not exist was shown")
	}
}
