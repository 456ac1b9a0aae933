package configs_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/setlet/setlet/configs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/defaulted")

// TestDefaultsGolden decodes the valid corpus and compares the defaulted
// objects with testdata/defaulted/<file>: what the API server would store
// for the same manifest. Run `go test ./configs -run Golden -update` after a
// deliberate change and review the diff.
func TestDefaultsGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := configs.Decode(filepath.Base(file), data)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, d := range docs {
				y, err := yaml.Marshal(d.Object)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(y))
			}
			got := strings.Join(out, "---\n")
			golden := filepath.Join("testdata/defaulted", filepath.Base(file))
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("defaulted objects differ from %s:\n%s", golden, got)
			}
		})
	}
}

// TestDefaultPullPolicy checks imagePullPolicy defaulting: Always for
// :latest or no tag, IfNotPresent otherwise (digests included).
func TestDefaultPullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.22.1", corev1.PullIfNotPresent},
		{"registry.local:5000/nginx", corev1.PullAlways},
		{"registry.local:5000/nginx:1.22", corev1.PullIfNotPresent},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullAlways},
		{"localhost:5000/team/app", corev1.PullAlways},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			set := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: tt.image}},
			}}}}
			configs.SetDefaults(set)
			if got := set.Spec.Template.Spec.Containers[0].ImagePullPolicy; got != tt.want {
				t.Errorf("imagePullPolicy = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestDefaultsDetails covers defaults the corpus does not show.
func TestDefaultsDetails(t *testing.T) {
	t.Run("SetDefaults is idempotent", func(t *testing.T) {
		docs, err := configs.Decode("full.yaml", []byte(fullManifest(t)))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			again := d.Object.DeepCopyObject().(configs.Object)
			configs.SetDefaults(again)
			if !apiequality.Semantic.DeepEqual(again, d.Object) {
				t.Errorf("%s changed when defaulted twice", d.String())
			}
		}
	})
	t.Run("stringData is merged into data and wins", func(t *testing.T) {
		s := &corev1.Secret{
			Data:       map[string][]byte{"a": []byte("old"), "b": []byte("keep")},
			StringData: map[string]string{"a": "new"},
		}
		configs.SetDefaults(s)
		if string(s.Data["a"]) != "new" || string(s.Data["b"]) != "keep" || s.StringData != nil || s.Type != corev1.SecretTypeOpaque || s.Namespace != "default" {
			t.Errorf("secret = %+v", s)
		}
		only := &corev1.Secret{StringData: map[string]string{"x": "y"}}
		configs.SetDefaults(only)
		if string(only.Data["x"]) != "y" {
			t.Errorf("data = %v", only.Data)
		}
	})
	t.Run("a volume without a source is an emptyDir", func(t *testing.T) {
		set := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "v"}},
			Resources: &corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0001")},
			},
		}}}}
		configs.SetDefaults(set)
		spec := set.Spec.Template.Spec
		if spec.Volumes[0].EmptyDir == nil {
			t.Errorf("volume = %+v, want emptyDir", spec.Volumes[0])
		}
		if got := spec.Resources.Limits.Cpu().String(); got != "1m" {
			t.Errorf("pod cpu limit = %s, want 1m (rounded up to milli)", got)
		}
	})
	t.Run("OnDelete keeps rollingUpdate unset", func(t *testing.T) {
		set := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}
		configs.SetDefaults(set)
		if set.Spec.UpdateStrategy.RollingUpdate != nil {
			t.Errorf("rollingUpdate = %+v, want nil", set.Spec.UpdateStrategy.RollingUpdate)
		}
	})
	t.Run("an explicit namespace is kept", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "prod"}}
		configs.SetDefaults(cm)
		if cm.Namespace != "prod" || cm.Data == nil {
			t.Errorf("configmap = %+v", cm)
		}
	})
}
