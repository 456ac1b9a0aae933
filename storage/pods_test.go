package storage_test

import (
	"testing"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/storage"
)

func TestPutPod(t *testing.T) {
	st, clock := openStore(t)
	pod := newPod("ns", "web", 0)
	before := pod.DeepCopy()
	noErr(t, st.PutPod(pod))
	equal(t, before, pod) // the input is not modified

	got, err := st.Pod("ns", "web-0")
	noErr(t, err)
	isTrue(t, len(got.UID) == 36, "uid is a UUID")
	equal(t, clock.Now().Unix(), got.CreationTimestamp.Unix())
	equal(t, "Pod", got.Kind)
	equal(t, "v1", got.APIVersion)
	equal(t, pod.Labels, got.Labels)
	equal(t, "web", metav1.GetControllerOf(got).Name)

	// Replacing keeps uid and creationTimestamp when they are not given.
	clock.Advance(time.Hour)
	now := metav1.NewTime(clock.Now())
	upd := newPod("ns", "web", 0)
	upd.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      "10.88.0.5",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}
	upd.DeletionTimestamp = &now
	noErr(t, st.PutPod(upd))
	got2, err := st.Pod("ns", "web-0")
	noErr(t, err)
	equal(t, got.UID, got2.UID)
	equal(t, got.CreationTimestamp.Unix(), got2.CreationTimestamp.Unix())
	equal(t, upd.Status, got2.Status)
	equal(t, now.Unix(), got2.DeletionTimestamp.Unix())

	// Given ones are stored as they are.
	got2.UID = "given"
	got2.CreationTimestamp = metav1.NewTime(time.Unix(5, 0))
	noErr(t, st.PutPod(got2))
	got3, err := st.Pod("ns", "web-0")
	noErr(t, err)
	equal(t, "given", string(got3.UID))
	equal(t, int64(5), got3.CreationTimestamp.Unix())
}

func TestPutPodInvalid(t *testing.T) {
	st, _ := openStore(t)
	errIs(t, st.PutPod(nil), errdefs.ErrInvalidArgument)
	noNS := newPod("", "web", 0)
	errIs(t, st.PutPod(noNS), errdefs.ErrInvalidArgument)
	noName := newPod("ns", "web", 0)
	noName.Name = ""
	errIs(t, st.PutPod(noName), errdefs.ErrInvalidArgument)
	_, err := st.Pod("ns", "")
	errIs(t, err, errdefs.ErrInvalidArgument)
	_, err = st.Pods("", "web")
	errIs(t, err, errdefs.ErrInvalidArgument)
	errIs(t, st.DeletePod("", "x"), errdefs.ErrInvalidArgument)
}

func TestPodsOfASet(t *testing.T) {
	st, _ := openStore(t)
	for _, i := range []int{10, 2, 0, 1} {
		noErr(t, st.PutPod(newPod("ns", "web", i)))
	}
	noErr(t, st.PutPod(newPod("ns", "web-x", 0)))
	noErr(t, st.PutPod(newPod("other", "web", 3)))
	orphan := newPod("ns", "web", 4)
	orphan.OwnerReferences = nil
	noErr(t, st.PutPod(orphan))
	// Without the index label the ordinal comes from the name.
	unlabelled := newPod("ns", "web", 7)
	delete(unlabelled.Labels, appsv1.PodIndexLabel)
	noErr(t, st.PutPod(unlabelled))
	// Without any ordinal a pod sorts last, by name.
	odd := newPod("ns", "web", 0)
	odd.Name = "web-odd"
	delete(odd.Labels, appsv1.PodIndexLabel)
	noErr(t, st.PutPod(odd))

	pods, err := st.Pods("ns", "web")
	noErr(t, err)
	equal(t, []string{"ns/web-0", "ns/web-1", "ns/web-2", "ns/web-7", "ns/web-10", "ns/web-odd"}, names(pods))

	pods, err = st.Pods("ns", "web-x")
	noErr(t, err)
	equal(t, []string{"ns/web-x-0"}, names(pods))
	pods, err = st.Pods("nope", "web")
	noErr(t, err)
	hasLen(t, pods, 0)

	all, err := st.AllPods()
	noErr(t, err)
	equal(t, []string{"ns/web-0", "ns/web-1", "ns/web-10", "ns/web-2", "ns/web-4", "ns/web-7", "ns/web-odd", "ns/web-x-0", "other/web-3"}, names(all))
}

func TestPodOrdinal(t *testing.T) {
	tests := []struct {
		name   string
		pod    string
		label  string
		want   int
		wantOK bool
	}{
		{"label", "web-3", "3", 3, true},
		{"label wins", "web-3", "4", 4, true},
		{"name", "web-12", "", 12, true},
		{"bad label falls back to name", "web-5", "x", 5, true},
		{"negative label", "web-5", "-1", 5, true},
		{"none", "web", "", 0, false},
		{"not a number", "web-x", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tt.pod}}
			if tt.label != "" {
				pod.Labels = map[string]string{appsv1.PodIndexLabel: tt.label}
			}
			got, ok := storage.PodOrdinal(pod)
			equal(t, tt.want, got)
			equal(t, tt.wantOK, ok)
		})
	}
}

func TestDeletePod(t *testing.T) {
	st, _ := openStore(t)
	noErr(t, st.PutPod(newPod("ns", "web", 0)))
	noErr(t, st.PutPod(newPod("ns", "web", 1)))
	noErr(t, st.DeletePod("ns", "web-0"))
	errIs(t, st.DeletePod("ns", "web-0"), errdefs.ErrNotFound)
	_, err := st.Pod("ns", "web-0")
	errIs(t, err, errdefs.ErrNotFound)
	noErr(t, st.DeletePod("ns", "web-1"))
	errIs(t, st.DeletePod("ns", "web-1"), errdefs.ErrNotFound)
	pods, err := st.AllPods()
	noErr(t, err)
	hasLen(t, pods, 0)

	// A replacement pod of the same name gets a new uid.
	noErr(t, st.PutPod(newPod("ns", "web", 0)))
	first, err := st.Pod("ns", "web-0")
	noErr(t, err)
	noErr(t, st.DeletePod("ns", "web-0"))
	noErr(t, st.PutPod(newPod("ns", "web", 0)))
	second, err := st.Pod("ns", "web-0")
	noErr(t, err)
	isTrue(t, first.UID != second.UID, "new uid")
}
