package storage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/storage"
)

// getObject reads key through the typed getter of its kind.
func getObject(t *testing.T, st *storage.Store, key storage.ObjectKey) storage.Object {
	t.Helper()
	var obj storage.Object
	var err error
	switch key.Kind {
	case configs.KindStatefulSet:
		obj, err = st.StatefulSet(key.Namespace, key.Name)
	case configs.KindService:
		obj, err = st.Service(key.Namespace, key.Name)
	case configs.KindConfigMap:
		obj, err = st.ConfigMap(key.Namespace, key.Name)
	case configs.KindSecret:
		obj, err = st.Secret(key.Namespace, key.Name)
	default:
		t.Fatalf("no getter for %s", key.Kind)
	}
	noErr(t, err)
	return obj
}

func TestKeyOf(t *testing.T) {
	tests := []struct {
		name string
		obj  storage.Object
		want storage.ObjectKey
	}{
		{"statefulset", newSet("ns", "web"), storage.ObjectKey{Kind: "StatefulSet", Namespace: "ns", Name: "web"}},
		{"service", newService("ns", "nginx"), storage.ObjectKey{Kind: "Service", Namespace: "ns", Name: "nginx"}},
		{"configmap", newConfigMap("ns", "conf"), storage.ObjectKey{Kind: "ConfigMap", Namespace: "ns", Name: "conf"}},
		{"secret", newSecret("ns", "pw"), storage.ObjectKey{Kind: "Secret", Namespace: "ns", Name: "pw"}},
		{"unsupported", newPod("ns", "web", 0), storage.ObjectKey{Namespace: "ns", Name: "web-0"}},
		{"nil", nil, storage.ObjectKey{}},
		{"typed nil", (*appsv1.StatefulSet)(nil), storage.ObjectKey{Kind: "StatefulSet"}},
		{"unsupported typed nil", (*corev1.Pod)(nil), storage.ObjectKey{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, tt.want, storage.KeyOf(tt.obj))
		})
	}
	equal(t, "StatefulSet ns/web", storage.KeyOf(newSet("ns", "web")).String())
}

func TestApplyCreates(t *testing.T) {
	tests := []struct {
		obj        storage.Object
		apiVersion string
	}{
		{newSet("default", "web"), "apps/v1"},
		{newService("default", "nginx"), "v1"},
		{newConfigMap("default", "conf"), "v1"},
		{newSecret("default", "pw"), "v1"},
	}
	for _, tt := range tests {
		key := storage.KeyOf(tt.obj)
		t.Run(key.Kind, func(t *testing.T) {
			st, clock := openStore(t)
			res, err := st.Apply(tt.obj)
			noErr(t, err)
			equal(t, []storage.ApplyResult{{Key: key, Action: storage.ApplyCreated, Generation: 1}}, res)

			got := getObject(t, st, key)
			equal(t, int64(1), got.GetGeneration())
			isTrue(t, len(got.GetUID()) == 36, "uid is a UUID: ", got.GetUID())
			equal(t, clock.Now().Truncate(time.Second).Unix(), got.GetCreationTimestamp().Unix())
			gvk := got.GetObjectKind().GroupVersionKind()
			equal(t, tt.apiVersion, gvk.GroupVersion().String())
			equal(t, key.Kind, gvk.Kind)

			// Applying again is unchanged and keeps uid and timestamp.
			clock.Advance(time.Hour)
			res, err = st.Apply(tt.obj)
			noErr(t, err)
			equal(t, storage.ApplyUnchanged, res[0].Action)
			again := getObject(t, st, key)
			equal(t, got.GetUID(), again.GetUID())
			equal(t, got.GetCreationTimestamp().Unix(), again.GetCreationTimestamp().Unix())
		})
	}
}

func TestApplyGeneration(t *testing.T) {
	tests := []struct {
		name   string
		obj    func() storage.Object
		change func(storage.Object)
		action storage.ApplyAction
		gen    int64
	}{
		{"set same", func() storage.Object { return newSet("ns", "web") }, func(storage.Object) {}, storage.ApplyUnchanged, 1},
		{"set labels", func() storage.Object { return newSet("ns", "web") }, func(o storage.Object) { o.SetLabels(map[string]string{"tier": "db"}) }, storage.ApplyConfigured, 1},
		{"set annotations", func() storage.Object { return newSet("ns", "web") }, func(o storage.Object) { o.SetAnnotations(map[string]string{"a": "b"}) }, storage.ApplyConfigured, 1},
		{"set replicas", func() storage.Object { return newSet("ns", "web") }, func(o storage.Object) { o.(*appsv1.StatefulSet).Spec.Replicas = ptrTo[int32](5) }, storage.ApplyConfigured, 2},
		{"set image", func() storage.Object { return newSet("ns", "web") }, func(o storage.Object) {
			o.(*appsv1.StatefulSet).Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		}, storage.ApplyConfigured, 2},
		{"set status only", func() storage.Object { return newSet("ns", "web") }, func(o storage.Object) {
			o.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{Replicas: 9, ReadyReplicas: 9}
		}, storage.ApplyUnchanged, 1},
		{"set server fields", func() storage.Object { return newSet("ns", "web") }, func(o storage.Object) {
			o.SetUID("bogus")
			o.SetResourceVersion("42")
			o.SetGeneration(7)
			o.SetCreationTimestamp(metav1.NewTime(time.Unix(1, 0)))
			o.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl"}})
			o.GetObjectKind().SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("StatefulSet"))
		}, storage.ApplyUnchanged, 1},
		{"service port", func() storage.Object { return newService("ns", "nginx") }, func(o storage.Object) {
			o.(*corev1.Service).Spec.Ports[0].Port = 8080
		}, storage.ApplyConfigured, 2},
		{"service labels", func() storage.Object { return newService("ns", "nginx") }, func(o storage.Object) { o.SetLabels(map[string]string{"x": "y"}) }, storage.ApplyConfigured, 1},
		{"configmap data", func() storage.Object { return newConfigMap("ns", "conf") }, func(o storage.Object) {
			o.(*corev1.ConfigMap).Data["extra"] = "1"
		}, storage.ApplyConfigured, 2},
		{"configmap binaryData", func() storage.Object { return newConfigMap("ns", "conf") }, func(o storage.Object) {
			o.(*corev1.ConfigMap).BinaryData = map[string][]byte{"bin": {0, 1}}
		}, storage.ApplyConfigured, 2},
		{"configmap immutable", func() storage.Object { return newConfigMap("ns", "conf") }, func(o storage.Object) {
			o.(*corev1.ConfigMap).Immutable = ptrTo(true)
		}, storage.ApplyConfigured, 2},
		{"configmap labels", func() storage.Object { return newConfigMap("ns", "conf") }, func(o storage.Object) { o.SetLabels(map[string]string{"x": "y"}) }, storage.ApplyConfigured, 1},
		{"configmap empty binaryData", func() storage.Object { return newConfigMap("ns", "conf") }, func(o storage.Object) {
			o.(*corev1.ConfigMap).BinaryData = map[string][]byte{}
		}, storage.ApplyUnchanged, 1},
		{"secret data", func() storage.Object { return newSecret("ns", "pw") }, func(o storage.Object) {
			o.(*corev1.Secret).Data["password"] = []byte("swordfish")
		}, storage.ApplyConfigured, 2},
		{"secret stringData", func() storage.Object { return newSecret("ns", "pw") }, func(o storage.Object) {
			o.(*corev1.Secret).StringData = map[string]string{"user": "admin"}
		}, storage.ApplyConfigured, 2},
		{"secret stringData equal to data", func() storage.Object { return newSecret("ns", "pw") }, func(o storage.Object) {
			s := o.(*corev1.Secret)
			s.Data = nil
			s.StringData = map[string]string{"password": "hunter2"}
		}, storage.ApplyUnchanged, 1},
		{"secret annotations", func() storage.Object { return newSecret("ns", "pw") }, func(o storage.Object) { o.SetAnnotations(map[string]string{"x": "y"}) }, storage.ApplyConfigured, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := openStore(t)
			_, err := st.Apply(tt.obj())
			noErr(t, err)
			obj := tt.obj()
			tt.change(obj)
			res, err := st.Apply(obj)
			noErr(t, err)
			equal(t, tt.action, res[0].Action)
			equal(t, tt.gen, res[0].Generation)
			got := getObject(t, st, storage.KeyOf(obj))
			equal(t, tt.gen, got.GetGeneration())
		})
	}
}

func TestApplyStoresSecretStringDataInData(t *testing.T) {
	st, _ := openStore(t)
	sec := newSecret("ns", "pw")
	sec.StringData = map[string]string{"user": "admin", "password": "override"}
	_, err := st.Apply(sec)
	noErr(t, err)
	got, err := st.Secret("ns", "pw")
	noErr(t, err)
	equal(t, map[string][]byte{"user": []byte("admin"), "password": []byte("override")}, got.Data)
	isNil(t, got.StringData)

	only := newSecret("ns", "only")
	only.Data = nil
	only.StringData = map[string]string{"k": "v"}
	_, err = st.Apply(only)
	noErr(t, err)
	got, err = st.Secret("ns", "only")
	noErr(t, err)
	equal(t, map[string][]byte{"k": []byte("v")}, got.Data)
}

func TestApplyKeepsStatus(t *testing.T) {
	st, _ := openStore(t)
	set := newSet("ns", "web")
	set.Status = appsv1.StatefulSetStatus{Replicas: 99} // ignored on create
	_, err := st.Apply(set)
	noErr(t, err)
	got, err := st.StatefulSet("ns", "web")
	noErr(t, err)
	equal(t, appsv1.StatefulSetStatus{}, got.Status)

	status := appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 2, CurrentRevision: "web-abc", UpdateRevision: "web-abc"}
	noErr(t, st.UpdateStatefulSetStatus("ns", "web", status))

	set.Spec.Replicas = ptrTo[int32](4)
	set.Status = appsv1.StatefulSetStatus{Replicas: 1}
	res, err := st.Apply(set)
	noErr(t, err)
	equal(t, int64(2), res[0].Generation)
	got, err = st.StatefulSet("ns", "web")
	noErr(t, err)
	equal(t, status, got.Status)

	svc := newService("ns", "nginx")
	_, err = st.Apply(svc)
	noErr(t, err)
	svc.Status.Conditions = []metav1.Condition{{Type: "x"}}
	res, err = st.Apply(svc)
	noErr(t, err)
	equal(t, storage.ApplyUnchanged, res[0].Action)
}

func TestApplyDoesNotMutateInputs(t *testing.T) {
	st, _ := openStore(t)
	sec := newSecret("ns", "pw")
	sec.StringData = map[string]string{"user": "admin"}
	set := newSet("ns", "web")
	set.Status.Replicas = 7
	set.ResourceVersion = "12"
	objs := []storage.Object{set, newService("ns", "nginx"), newConfigMap("ns", "conf"), sec}
	before := make([]runtime.Object, len(objs))
	for i, obj := range objs {
		before[i] = obj.DeepCopyObject()
	}
	for range 2 { // create, then update
		_, err := st.Apply(objs...)
		noErr(t, err)
		for i, obj := range objs {
			equal(t, before[i], runtime.Object(obj))
		}
	}
}

func TestApplyImmutable(t *testing.T) {
	immutableCM := func() *corev1.ConfigMap {
		cm := newConfigMap("ns", "conf")
		cm.Immutable = ptrTo(true)
		cm.BinaryData = map[string][]byte{"b": {1}}
		return cm
	}
	immutableSecret := func() *corev1.Secret {
		s := newSecret("ns", "pw")
		s.Immutable = ptrTo(true)
		return s
	}
	tests := []struct {
		name    string
		stored  storage.Object
		applied func() storage.Object
		field   string // "" when the apply succeeds
	}{
		{"configmap data", immutableCM(), func() storage.Object { c := immutableCM(); c.Data["x"] = "y"; return c }, "data: Forbidden: field is immutable when `immutable` is set"},
		{"configmap binaryData", immutableCM(), func() storage.Object { c := immutableCM(); c.BinaryData = nil; return c }, "binaryData: Forbidden: field is immutable when `immutable` is set"},
		{"configmap immutable", immutableCM(), func() storage.Object { c := immutableCM(); c.Immutable = nil; return c }, "immutable: Forbidden: field is immutable when `immutable` is set"},
		{"configmap labels", immutableCM(), func() storage.Object { c := immutableCM(); c.Labels = map[string]string{"a": "b"}; return c }, ""},
		{"mutable configmap data", newConfigMap("ns", "conf"), func() storage.Object { c := newConfigMap("ns", "conf"); c.Data = nil; return c }, ""},
		{"secret data", immutableSecret(), func() storage.Object { s := immutableSecret(); s.Data["password"] = []byte("x"); return s }, "data: Forbidden: field is immutable when `immutable` is set"},
		{"secret immutable", immutableSecret(), func() storage.Object { s := immutableSecret(); s.Immutable = ptrTo(false); return s }, "immutable: Forbidden"},
		{"secret type", newSecret("ns", "pw"), func() storage.Object { s := newSecret("ns", "pw"); s.Type = corev1.SecretTypeBasicAuth; return s }, `type: Invalid value: "kubernetes.io/basic-auth": field is immutable`},
		{"secret labels", immutableSecret(), func() storage.Object { s := immutableSecret(); s.Labels = map[string]string{"a": "b"}; return s }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := openStore(t)
			_, err := st.Apply(tt.stored)
			noErr(t, err)
			obj := tt.applied()
			res, err := st.Apply(obj)
			if tt.field == "" {
				noErr(t, err)
				equal(t, storage.ApplyConfigured, res[0].Action)
				return
			}
			errIs(t, err, errdefs.ErrFailedPrecondition)
			contains(t, err.Error(), tt.field)
			contains(t, err.Error(), "ns/")
			isNil(t, res)
			// The stored object is untouched.
			got := getObject(t, st, storage.KeyOf(obj))
			equal(t, int64(1), got.GetGeneration())
		})
	}
}

func TestApplyInvalid(t *testing.T) {
	noName := newSet("ns", "")
	noNS := newConfigMap("", "conf")
	tests := []struct {
		name string
		obj  storage.Object
		msg  string
	}{
		{"nil", nil, "nil"},
		{"typed nil", (*corev1.Secret)(nil), "nil"},
		{"unsupported typed nil", (*corev1.Pod)(nil), "nil"},
		{"unsupported", newPod("ns", "web", 0), "unsupported type"},
		{"no name", noName, "name is required"},
		{"no namespace", noNS, "namespace is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := openStore(t)
			_, err := st.Apply(newService("ns", "nginx"), tt.obj)
			errIs(t, err, errdefs.ErrInvalidArgument)
			contains(t, err.Error(), tt.msg)
			svcs, err := st.Services()
			noErr(t, err)
			hasLen(t, svcs, 0) // the valid object before it was not kept
		})
	}
}

func TestApplyIsAtomic(t *testing.T) {
	st, _ := openStore(t)
	cm := newConfigMap("ns", "locked")
	cm.Immutable = ptrTo(true)
	_, err := st.Apply(cm)
	noErr(t, err)

	changed := cm.DeepCopy()
	changed.Data = map[string]string{"other": "x"}
	_, err = st.Apply(newSet("ns", "web"), newService("ns", "nginx"), changed)
	errIs(t, err, errdefs.ErrFailedPrecondition)

	_, err = st.StatefulSet("ns", "web")
	errIs(t, err, errdefs.ErrNotFound)
	_, err = st.Service("ns", "nginx")
	errIs(t, err, errdefs.ErrNotFound)
}

func TestApplySameObjectTwiceInOneCall(t *testing.T) {
	st, _ := openStore(t)
	a := newSet("ns", "web")
	b := newSet("ns", "web")
	b.Spec.Replicas = ptrTo[int32](1)
	res, err := st.Apply(a, b)
	noErr(t, err)
	equal(t, storage.ApplyCreated, res[0].Action)
	equal(t, storage.ApplyConfigured, res[1].Action)
	equal(t, int64(2), res[1].Generation)
}

func TestGettersAndListers(t *testing.T) {
	st, _ := openStore(t)
	_, err := st.Apply(
		newSet("prod", "web"), newSet("default", "web-x"), newSet("default", "web"),
		newService("prod", "nginx"), newService("default", "nginx"),
		newConfigMap("b", "conf"), newConfigMap("a", "conf"),
		newSecret("z", "pw"), newSecret("a", "pw"),
	)
	noErr(t, err)

	sets, err := st.StatefulSets()
	noErr(t, err)
	equal(t, []string{"default/web", "default/web-x", "prod/web"}, names(sets))
	svcs, err := st.Services()
	noErr(t, err)
	equal(t, []string{"default/nginx", "prod/nginx"}, names(svcs))
	cms, err := st.ConfigMaps()
	noErr(t, err)
	equal(t, []string{"a/conf", "b/conf"}, names(cms))
	secs, err := st.Secrets()
	noErr(t, err)
	equal(t, []string{"a/pw", "z/pw"}, names(secs))

	// Copies are not shared with the store.
	sets[0].Spec.Replicas = ptrTo[int32](100)
	set, err := st.StatefulSet("default", "web")
	noErr(t, err)
	equal(t, int32(3), *set.Spec.Replicas)

	notFound := []struct {
		name string
		get  func() error
	}{
		{"statefulset", func() error { _, err := st.StatefulSet("prod", "nope"); return err }},
		{"statefulset other namespace", func() error { _, err := st.StatefulSet("other", "web"); return err }},
		{"service", func() error { _, err := st.Service("default", "nope"); return err }},
		{"configmap", func() error { _, err := st.ConfigMap("default", "conf"); return err }},
		{"secret", func() error { _, err := st.Secret("default", "pw"); return err }},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.get()
			errIs(t, err, errdefs.ErrNotFound)
			contains(t, err.Error(), tt.name[:strings.IndexByte(tt.name+" ", ' ')])
		})
	}
	_, err = st.Secret("", "pw")
	errIs(t, err, errdefs.ErrInvalidArgument)
}

func names[T storage.Object](objs []T) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetNamespace() + "/" + o.GetName()
	}
	return out
}

func TestListersOnEmptyStore(t *testing.T) {
	st, _ := openStore(t)
	sets, err := st.StatefulSets()
	noErr(t, err)
	hasLen(t, sets, 0)
	cms, err := st.ConfigMaps()
	noErr(t, err)
	hasLen(t, cms, 0)
}

func TestDeleteObject(t *testing.T) {
	st, _ := openStore(t)
	_, err := st.Apply(newSet("ns", "web"), newSet("ns", "db"), newSecret("ns", "pw"))
	noErr(t, err)
	key := storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: "ns", Name: "web"}
	noErr(t, st.DeleteObject(key))
	_, err = st.StatefulSet("ns", "web")
	errIs(t, err, errdefs.ErrNotFound)
	errIs(t, st.DeleteObject(key), errdefs.ErrNotFound)
	_, err = st.StatefulSet("ns", "db")
	noErr(t, err)
	_, err = st.Secret("ns", "pw")
	noErr(t, err)

	// The last object of a namespace goes with its bucket; applying again
	// creates a new object.
	noErr(t, st.DeleteObject(storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: "ns", Name: "db"}))
	errIs(t, st.DeleteObject(storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: "ns", Name: "db"}), errdefs.ErrNotFound)
	res, err := st.Apply(newSet("ns", "web"))
	noErr(t, err)
	equal(t, storage.ApplyCreated, res[0].Action)

	errIs(t, st.DeleteObject(storage.ObjectKey{Kind: "Pod", Namespace: "ns", Name: "web-0"}), errdefs.ErrInvalidArgument)
	errIs(t, st.DeleteObject(storage.ObjectKey{Kind: configs.KindSecret, Namespace: "ns"}), errdefs.ErrInvalidArgument)
}

func TestUpdateStatefulSetStatus(t *testing.T) {
	st, _ := openStore(t)
	status := appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1, ObservedGeneration: 1}
	errIs(t, st.UpdateStatefulSetStatus("ns", "web", status), errdefs.ErrNotFound)
	errIs(t, st.UpdateStatefulSetStatus("", "web", status), errdefs.ErrInvalidArgument)

	_, err := st.Apply(newSet("ns", "web"))
	noErr(t, err)
	noErr(t, st.UpdateStatefulSetStatus("ns", "web", status))
	noErr(t, st.UpdateStatefulSetStatus("ns", "web", status))
	got, err := st.StatefulSet("ns", "web")
	noErr(t, err)
	equal(t, status, got.Status)
	equal(t, int64(1), got.Generation)
	equal(t, int32(3), *got.Spec.Replicas)
}
