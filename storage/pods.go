package storage

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
)

// PutPod stores a copy of pod, creating or replacing the record
// pods/<namespace>/<name>; pod is not modified. When pod has no uid or
// creationTimestamp the stored copy keeps those of the record it replaces,
// or, for a new record, gets a random uid and the clock's time. It is
// idempotent. A pod without a name or namespace gives an
// errdefs.ErrInvalidArgument error.
func (tx *Tx) PutPod(pod *corev1.Pod) error {
	if pod == nil {
		return invalid("storing pod: pod is nil")
	}
	if err := requireName("pod", pod.Namespace, pod.Name); err != nil {
		return fmt.Errorf("storing %w", err)
	}
	b, err := tx.writeBucket(bucketPods, pod.Namespace)
	if err != nil {
		return err
	}
	c := pod.DeepCopy()
	c.APIVersion, c.Kind = corev1.SchemeGroupVersion.String(), "Pod"
	if c.UID == "" || c.CreationTimestamp.IsZero() {
		old := &corev1.Pod{}
		ok, err := getJSON(b, c.Name, old)
		if err != nil {
			return fmt.Errorf("storing pod %s/%s: %w", c.Namespace, c.Name, err)
		}
		switch {
		case ok && c.UID == "":
			c.UID = old.UID
		case c.UID == "":
			c.UID = newUID()
		}
		switch {
		case ok && c.CreationTimestamp.IsZero():
			c.CreationTimestamp = old.CreationTimestamp
		case c.CreationTimestamp.IsZero():
			c.CreationTimestamp = metav1.NewTime(tx.s.now())
		}
	}
	if err := tx.putJSON(b, c.Name, c); err != nil {
		return fmt.Errorf("storing pod %s/%s: %w", c.Namespace, c.Name, err)
	}
	return nil
}

// Pod returns a fresh copy of the pod record ns/name, or an
// errdefs.ErrNotFound error.
func (tx *Tx) Pod(ns, name string) (*corev1.Pod, error) {
	if err := requireName("pod", ns, name); err != nil {
		return nil, err
	}
	b, err := tx.bucket(bucketPods, ns)
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{}
	ok, err := getJSON(b, name, pod)
	if err != nil {
		return nil, fmt.Errorf("reading pod %s/%s: %w", ns, name, err)
	}
	if !ok {
		return nil, notFound("pod", ns, name)
	}
	return pod, nil
}

// Pods returns fresh copies of the pod records of namespace ns whose
// controller owner reference is the StatefulSet named set, sorted by
// ordinal (web-2 before web-10; see PodOrdinal), then by name.
func (tx *Tx) Pods(ns, set string) ([]*corev1.Pod, error) {
	if err := requireName("statefulset", ns, set); err != nil {
		return nil, err
	}
	pods, err := tx.pods(ns)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, pod := range pods {
		if ref := metav1.GetControllerOf(pod); ref != nil && ref.Kind == configs.KindStatefulSet && ref.Name == set {
			out = append(out, pod)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, aok := PodOrdinal(out[i])
		b, bok := PodOrdinal(out[j])
		switch {
		case aok && bok && a != b:
			return a < b
		case aok != bok:
			return aok // pods with an ordinal first
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// AllPods returns fresh copies of every pod record, sorted by namespace
// and name.
func (tx *Tx) AllPods() ([]*corev1.Pod, error) {
	return tx.pods("")
}

// pods decodes the pod records of namespace ns, or of all namespaces when
// ns is "", in key order.
func (tx *Tx) pods(ns string) ([]*corev1.Pod, error) {
	root, err := tx.bucket(bucketPods)
	if err != nil || root == nil {
		return nil, err
	}
	var out []*corev1.Pod
	decode := func(nsKey []byte) error {
		return root.Bucket(nsKey).ForEach(func(name, raw []byte) error {
			pod := &corev1.Pod{}
			if err := json.Unmarshal(raw, pod); err != nil {
				return fmt.Errorf("reading pod %s/%s: %w", nsKey, name, err)
			}
			out = append(out, pod)
			return nil
		})
	}
	switch {
	case ns == "":
		err = root.ForEachBucket(decode)
	case root.Bucket([]byte(ns)) != nil:
		err = decode([]byte(ns))
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PodOrdinal returns pod's ordinal: the apps.kubernetes.io/pod-index label,
// or else the number after the last "-" of its name. ok is false when
// neither is a non-negative integer. It is pure.
func PodOrdinal(pod *corev1.Pod) (ordinal int, ok bool) {
	if v, found := pod.Labels[appsv1.PodIndexLabel]; found {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n, true
		}
	}
	if i := strings.LastIndexByte(pod.Name, '-'); i >= 0 {
		if n, err := strconv.Atoi(pod.Name[i+1:]); err == nil && n >= 0 {
			return n, true
		}
	}
	return 0, false
}

// DeletePod removes the pod record ns/name, or returns an
// errdefs.ErrNotFound error.
func (tx *Tx) DeletePod(ns, name string) error {
	if err := requireName("pod", ns, name); err != nil {
		return err
	}
	if err := tx.checkWritable(); err != nil {
		return err
	}
	root, err := tx.bucket(bucketPods)
	if err != nil {
		return err
	}
	var b *bolt.Bucket
	if root != nil {
		b = root.Bucket([]byte(ns))
	}
	if b == nil || b.Get([]byte(name)) == nil {
		return notFound("pod", ns, name)
	}
	if err := tx.delete(b, []byte(name)); err != nil {
		return fmt.Errorf("deleting pod %s/%s: %w", ns, name, err)
	}
	return tx.deleteIfEmpty(root, ns)
}

// PutPod is Tx.PutPod in its own Update.
func (s *Store) PutPod(pod *corev1.Pod) error {
	return s.Update(func(tx *Tx) error { return tx.PutPod(pod) })
}

// Pod is Tx.Pod in its own View.
func (s *Store) Pod(ns, name string) (pod *corev1.Pod, err error) {
	err = s.View(func(tx *Tx) error { pod, err = tx.Pod(ns, name); return err })
	return pod, err
}

// Pods is Tx.Pods in its own View.
func (s *Store) Pods(ns, set string) (pods []*corev1.Pod, err error) {
	err = s.View(func(tx *Tx) error { pods, err = tx.Pods(ns, set); return err })
	return pods, err
}

// AllPods is Tx.AllPods in its own View.
func (s *Store) AllPods() (pods []*corev1.Pod, err error) {
	err = s.View(func(tx *Tx) error { pods, err = tx.AllPods(); return err })
	return pods, err
}

// DeletePod is Tx.DeletePod in its own Update.
func (s *Store) DeletePod(ns, name string) error {
	return s.Update(func(tx *Tx) error { return tx.DeletePod(ns, name) })
}
